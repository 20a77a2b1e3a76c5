using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Neural;
using P2PStack.Protocols.Kademlia;

namespace P2PStack;

public static class NeuralServiceCollectionExtensions
{
    /// <summary>
    /// Adds neural messaging: <see cref="NeuralMesh"/> (send, publish, commands, agents, swarms, listeners), the
    /// <c>/synaptic/neural/1.0.0</c> handler, the <c>/agent</c> DHT validator, and <see cref="NeuralMeshHostedService"/>.
    /// Agent resolution needs <c>AddKademlia()</c> (and identify); swarms need <c>AddGossipSub()</c>.
    /// </summary>
    public static IP2PBuilder AddNeuralMesh(this IP2PBuilder builder, Action<NeuralMeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<NeuralMeshOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) services.Configure(configure);
        services.AddOptions<KademliaOptions>().Configure<IOptions<NeuralMeshOptions>>((o, neural) =>
        {
            if (!o.Validator.Namespaces.Contains(NeuralProtocol.AgentNamespace))
                o.Validator.Add(NeuralProtocol.AgentNamespace, new AgentRecordValidator(maxClockSkew: neural.Value.MaxClockSkew));
        });
        services.TryAddSingleton<NeuralMesh>();
        services.TryAddSingleton<NeuralStreamHandler>();
        services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<NeuralStreamHandler>());
        services.TryAddSingleton<SealingKeyHandler>();
        services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<SealingKeyHandler>());
        services.TryAddSingleton<NeuralMeshHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<NeuralMeshHostedService>());
        return builder;
    }

    /// <summary>Registers a handler of messages with a <typeparamref name="TBody"/> body (scoped: one instance per message).</summary>
    public static IServiceCollection AddNeuralHandler<TBody, THandler>(this IServiceCollection services)
        where TBody : class, IMessage<TBody>
        where THandler : class, INeuralMessageHandler<TBody>
    {
        services.AddScoped<INeuralMessageHandler<TBody>, THandler>();
        return services;
    }

    /// <summary>Registers a command handler (scoped).</summary>
    public static IServiceCollection AddNeuralCommandHandler<THandler>(this IServiceCollection services)
        where THandler : class, INeuralCommandHandler
    {
        services.AddScoped<INeuralCommandHandler, THandler>();
        return services;
    }
}
