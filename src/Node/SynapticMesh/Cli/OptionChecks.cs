using System.CommandLine;

namespace SynapticMesh.Cli;

/// <summary>
/// Value checks for options, run only once the value has parsed: a value that does not parse at all ("abc" for a
/// number) is reported by the parser itself, and the check never throws on it.
/// </summary>
public static class OptionChecks
{
    /// <summary>Reports <paramref name="error"/> (a usage error) when the parsed value fails <paramref name="isValid"/>.</summary>
    public static Option<T> Check<T>(this Option<T> option, Func<T, bool> isValid, string error)
    {
        option.Validators.Add(result =>
        {
            T value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                return; // did not parse: the parser's own error says so
            }
            if (!isValid(value)) result.AddError(error);
        });
        return option;
    }
}
