using System.Text.Json;
using Microsoft.AspNetCore.Http;
using SynapticMesh.Cli;

namespace SynapticMesh.Api;

/// <summary>
/// A streamed control API answer: newline-delimited JSON, one object per line, flushed as it is written (read by
/// <see cref="ControlClient.StreamAsync{T}"/>). Started only once the request has been accepted, so refusals still
/// answer with an error status and an <see cref="ApiError"/>.
/// </summary>
public sealed class NdjsonResponse
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    private readonly HttpResponse _response;

    private NdjsonResponse(HttpResponse response) => _response = response;

    public static async Task<NdjsonResponse> StartAsync(HttpContext http, CancellationToken cancellationToken)
    {
        http.Response.ContentType = "application/x-ndjson";
        await http.Response.StartAsync(cancellationToken);
        await http.Response.Body.FlushAsync(cancellationToken);
        return new NdjsonResponse(http.Response);
    }

    public async Task WriteAsync<T>(T item, CancellationToken cancellationToken)
    {
        await JsonSerializer.SerializeAsync(_response.Body, item, CliOutput.CompactJsonOptions, cancellationToken);
        await _response.Body.WriteAsync(NewLine, cancellationToken);
        await _response.Body.FlushAsync(cancellationToken);
    }
}
