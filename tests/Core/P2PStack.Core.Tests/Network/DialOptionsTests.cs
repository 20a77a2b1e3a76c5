using P2PStack.Network;

namespace P2PStack.Core.Tests.Network;

/// <summary><see cref="DialOptions.Timeout"/> is checked where it is set: a value that could only fail every dial at
/// once, or overflow the dial's timer, is refused with an error naming the option.</summary>
public class DialOptionsTests
{
    public static TheoryData<TimeSpan> Refused => new()
    {
        TimeSpan.Zero,
        TimeSpan.FromTicks(-1),
        TimeSpan.FromSeconds(-5),
        DialOptions.MaxTimeout + TimeSpan.FromTicks(1),
        TimeSpan.FromDays(60), // past CancelAfter's range
        TimeSpan.MaxValue,
        Timeout.InfiniteTimeSpan,
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void A_timeout_that_is_not_positive_or_is_past_the_maximum_is_refused_naming_the_option(TimeSpan timeout)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DialOptions { Timeout = timeout });
        Assert.Equal("Timeout", e.ParamName);
        Assert.Contains("DialOptions.Timeout", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DialOptions.Default with { Timeout = timeout });
    }

    [Fact]
    public void Null_the_smallest_positive_and_the_maximum_are_accepted()
    {
        Assert.Null(new DialOptions { Timeout = null }.Timeout);
        Assert.Equal(TimeSpan.FromTicks(1), new DialOptions { Timeout = TimeSpan.FromTicks(1) }.Timeout);
        Assert.Equal(DialOptions.MaxTimeout, new DialOptions { Timeout = DialOptions.MaxTimeout }.Timeout);
    }
}
