using P2PStack.Network;

namespace P2PStack.Nat.Dcutr.Tests;

public sealed class DcutrOptionsTests
{
    [Theory]
    [InlineData(nameof(DcutrOptions.DialTimeout))]
    [InlineData(nameof(DcutrOptions.UnilateralDialTimeout))]
    public void A_dial_timeout_longer_than_a_dial_can_take_is_refused_at_start_up_naming_the_option(string option)
    {
        // These become DialOptions.Timeout during a hole punch, which refuses more than DialOptions.MaxTimeout: a
        // value it would refuse must fail at start-up, not as an exception in the middle of a punch.
        var tooLong = DialOptions.MaxTimeout + TimeSpan.FromSeconds(1);
        var options = option == nameof(DcutrOptions.DialTimeout)
            ? new DcutrOptions { DialTimeout = tooLong }
            : new DcutrOptions { UnilateralDialTimeout = tooLong };

        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(option, e.ParamName);

        var atTheLimit = option == nameof(DcutrOptions.DialTimeout)
            ? new DcutrOptions { DialTimeout = DialOptions.MaxTimeout }
            : new DcutrOptions { UnilateralDialTimeout = DialOptions.MaxTimeout };
        atTheLimit.Validate();
    }
}
