using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;

namespace P2PStack.Security.Noise.Tests;

public sealed class ClassicalNoiseConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel(ILocalIdentity identity) =>
        new NoiseSecureChannel(NoiseSuite.Classical, identity, Options.Create(new NoiseOptions()));
}

public sealed class NoiseMLKem512ConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel(ILocalIdentity identity) =>
        new NoiseSecureChannel(NoiseSuite.MLKem512, identity, Options.Create(new NoiseOptions()));
}

public sealed class NoiseMLKem768ConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel(ILocalIdentity identity) =>
        new NoiseSecureChannel(NoiseSuite.MLKem768, identity, Options.Create(new NoiseOptions()));
}

public sealed class NoiseMLKem1024ConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel(ILocalIdentity identity) =>
        new NoiseSecureChannel(NoiseSuite.MLKem1024, identity, Options.Create(new NoiseOptions()));
}
