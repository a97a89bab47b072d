using System.Security.Cryptography;

namespace Cohort.Transport.Tcp.Tests;

public sealed class WireTests
{
    private static readonly byte[] KeyA = [.. Enumerable.Repeat((byte)1, 32)];
    private static readonly byte[] KeyB = [.. Enumerable.Repeat((byte)2, 32)];

    private static byte[] Seal(RecordSealer sealer, long seq, params byte[] payload)
    {
        var buffer = new byte[Records.Size(payload.Length)];
        sealer.Seal(buffer, RecordKind.Data, 1, ChunkFlags.First | ChunkFlags.Last, seq, payload);
        return buffer;
    }

    private static (ParseStatus Status, long Seq, string Error) ParseOne(RecordParser parser, byte[] bytes)
    {
        var status = parser.Parse(bytes, out var record, out _);
        return (status, status == ParseStatus.Record ? record.Seq : 0, parser.Error);
    }

    [Test]
    public void Records_authenticate_in_order_and_a_replayed_or_reordered_one_fails()
    {
        using var sealer = new RecordSealer(KeyA);
        var first = Seal(sealer, 1, 10);
        var second = Seal(sealer, 2, 20);
        var third = Seal(sealer, 3, 30);

        using var inOrder = new RecordParser(KeyA);
        Assert.That(ParseOne(inOrder, first).Seq, Is.EqualTo(1));
        Assert.That(ParseOne(inOrder, second).Seq, Is.EqualTo(2));
        Assert.That(ParseOne(inOrder, second).Status, Is.EqualTo(ParseStatus.Malformed), "a replay of the record just accepted");
        using var reordered = new RecordParser(KeyA);
        Assert.That(ParseOne(reordered, third).Status, Is.EqualTo(ParseStatus.Malformed), "a record out of its place (one dropped before it)");
        using var otherConnection = new RecordParser(KeyB);
        Assert.That(ParseOne(otherConnection, first).Error, Is.EqualTo("a record that fails authentication (forged, corrupted, replayed or out of order)"), "a record moved to a connection with another key");
    }

    [Test]
    public void A_header_announcing_more_than_a_chunk_is_refused_before_its_payload_arrives()
    {
        byte[] header = [0x01, 0x00, 0x01, 0x00, 1, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0]; // 65537 bytes
        using var parser = new RecordParser(KeyA);

        Assert.That(parser.Parse(header, out _, out _), Is.EqualTo(ParseStatus.Malformed));
        Assert.That(parser.Error, Is.EqualTo("a record of 65537 bytes (at most 65536)"));
        Assert.That(parser.Parse(header.AsSpan(0, 15), out _, out _), Is.EqualTo(ParseStatus.NeedMore), "an incomplete header waits");
    }

    [TestCase(new byte[] { 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "unknown record kind 9")]
    [TestCase(new byte[] { 0, 0, 0, 0, 1, 2, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0 }, "data on lane 2")]
    [TestCase(new byte[] { 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "a data record with sequence number 0")]
    [TestCase(new byte[] { 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "a malformed acknowledgement")]
    [TestCase(new byte[] { 0, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, "a reserved header byte that is not zero")]
    public void Malformed_headers_are_named(byte[] header, string problem) =>
        Assert.That(Records.CheckHeader(header, out _), Is.EqualTo(problem));

    [Test]
    public void A_frame_split_into_chunks_is_reassembled_with_the_other_lane_in_between()
    {
        var assembler = new FrameAssembler();
        var frame = RandomNumberGenerator.GetBytes(150_000);
        byte[]? done;

        Assert.That(assembler.Accept(Chunk(1, ChunkFlags.First, 7, frame.AsSpan(0, 65536)), out done) && done is null, Is.True);
        Assert.That(assembler.Accept(Chunk(0, ChunkFlags.First | ChunkFlags.Last, 3, [9]), out var heartbeat) && heartbeat is [9], Is.True, "membership between two chunks");
        Assert.That(assembler.Accept(Chunk(1, ChunkFlags.None, 7, frame.AsSpan(65536, 65536)), out done) && done is null, Is.True);
        Assert.That(assembler.Accept(Chunk(1, ChunkFlags.Last, 7, frame.AsSpan(131072)), out done), Is.True);
        Assert.That(done, Is.EqualTo(frame));
        Assert.That(assembler.Accept(Chunk(1, ChunkFlags.None, 8, [1]), out _), Is.False);
        Assert.That(assembler.Error, Is.EqualTo("a continuation of frame 8 on lane 1 that was not started"));
    }

    [Test]
    public void A_frame_growing_past_the_limit_is_refused()
    {
        var assembler = new FrameAssembler();
        var chunk = new byte[Records.MaxPayloadBytes];
        Assert.That(assembler.Accept(Chunk(1, ChunkFlags.First, 1, chunk), out _), Is.True);
        for (var i = 1; i < TransportLimits.MaxFrameBytes / Records.MaxPayloadBytes; i++)
        {
            Assert.That(assembler.Accept(Chunk(1, ChunkFlags.None, 1, chunk), out _), Is.True);
        }

        Assert.That(assembler.Accept(Chunk(1, ChunkFlags.None, 1, [0]), out _), Is.False);
        Assert.That(assembler.Error, Is.EqualTo($"a frame longer than {TransportLimits.MaxFrameBytes} bytes"));
    }

    [Test]
    public void Both_ends_of_a_handshake_derive_the_same_keys_and_proofs_bind_role_key_and_nonces()
    {
        var hello = new ClientHello(1, 4, 2, RandomNumberGenerator.GetBytes(32), "127.0.0.1:7401");
        var helloBody = Handshake.Encode(hello);
        var acceptorNonce = RandomNumberGenerator.GetBytes(32);
        var transcript = Handshake.Transcript(helloBody, 2, 9, acceptorNonce);
        var acceptorProof = Handshake.AcceptorProof(KeyA, transcript);

        Assert.That(Handshake.DecodeClientHello(helloBody), Is.EqualTo(hello).Using<ClientHello>((x, y) => x.Node == y.Node && x.Incarnation == y.Incarnation && x.Target == y.Target && x.Nonce.SequenceEqual(y.Nonce) && x.ListenAddress == y.ListenAddress));
        Assert.That(Handshake.DialerProof(KeyA, transcript, acceptorProof), Is.Not.EqualTo(acceptorProof), "the roles' proofs differ, so one cannot be reflected as the other");
        Assert.That(Handshake.AcceptorProof(KeyB, transcript), Is.Not.EqualTo(acceptorProof), "the key matters");
        Assert.That(Handshake.AcceptorProof(KeyA, Handshake.Transcript(helloBody, 2, 9, RandomNumberGenerator.GetBytes(32))), Is.Not.EqualTo(acceptorProof), "a fresh nonce gives a fresh proof: a recorded one does not replay");
        var dialerSide = Handshake.DeriveKeys(KeyA, transcript, hello.Nonce, acceptorNonce);
        var acceptorSide = Handshake.DeriveKeys(KeyA, transcript, hello.Nonce, acceptorNonce);
        Assert.That(acceptorSide.DialerToAcceptor, Is.EqualTo(dialerSide.DialerToAcceptor));
        Assert.That(dialerSide.DialerToAcceptor, Is.Not.EqualTo(dialerSide.AcceptorToDialer), "each direction has its own key");
    }

    private static Record Chunk(byte lane, ChunkFlags flags, long seq, ReadOnlySpan<byte> payload) => new(RecordKind.Data, lane, flags, seq, payload);
}
