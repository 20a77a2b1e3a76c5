using P2PStack.Conformance.Security;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Security.Pnet.Tests;

/// <summary>Inside a private network a connection keeps what its carrier says of it: the host and the upgrader may
/// read these after the protector has wrapped the connection.</summary>
public sealed class PnetConnectionAttributesTests
{
    [Fact]
    public async Task A_protected_connection_keeps_its_carriers_limits_anonymity_identity_filters_and_admission()
    {
        var protector = new PnetProtector(Microsoft.Extensions.Options.Options.Create(new PnetOptions { Key = SwarmKey.Generate() }));
        var (dialer, listener) = MemoryRawConnection.CreatePair();
        var limits = new ConnectionLimits(TimeSpan.FromMinutes(2), 1 << 17);
        var identity = new LocalIdentity(PrivateKey.Generate(KeyType.Ed25519));
        var ticket = new Ticket();
        var carried = new CarriedConnection(listener, limits, identity, ["/padding/1.0.0"], ticket);

        var protectedPair = await Task.WhenAll(
            protector.ProtectAsync(dialer, CancellationToken.None).AsTask(),
            protector.ProtectAsync(carried, CancellationToken.None).AsTask()).WaitAsync(TimeSpan.FromSeconds(30));
        var inside = protectedPair[1];
        await using (protectedPair[0])
        await using (inside)
        {
            Assert.NotSame(carried, inside);
            Assert.Same(limits, inside.Limits);
            Assert.True(inside.IsAnonymous);
            Assert.Same(identity, inside.LocalIdentity);
            Assert.Equal(["/padding/1.0.0"], inside.RequiredInboundFilters);
            Assert.Same(ticket, inside.Admission);
        }
    }

    private sealed class Ticket : IAdmissionTicket
    {
        public void Dispose() { }
    }

    private sealed class CarriedConnection(IRawConnection inner, ConnectionLimits limits, ILocalIdentity identity,
        IReadOnlyList<string> filters, IAdmissionTicket admission) : DelegatingRawConnection(inner)
    {
        public override ConnectionLimits? Limits => limits;
        public override bool IsAnonymous => true;
        public override ILocalIdentity? LocalIdentity => identity;
        public override IReadOnlyList<string>? RequiredInboundFilters => filters;
        public override IAdmissionTicket? Admission => admission;
    }
}
