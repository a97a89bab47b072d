namespace Cohort.Transport.Tcp.Tests;

/// <summary>
/// Seeded mutation fuzzing of every decoder of the transport: valid inputs are mutated (bit flips,
/// byte overwrites, truncation, extension, insertion, deletion, splices of length fields) and fed to
/// the decoders with authentication bypassed, so the mutations reach the parsing code. No decoder may
/// throw anything but its documented refusal, and nothing it yields may exceed the limits.
/// </summary>
public sealed class FuzzTests
{
    private const int Seed = 20261201;

    [Test]
    public void Handshake_decoders_never_throw_on_mutated_messages()
    {
        var random = new Random(Seed);
        var valid = new List<byte[]>
        {
            Handshake.Encode(new ClientHello(1, 3, 2, Bytes(random, 32), "127.0.0.1:7401")),
            Handshake.Encode(new ClientHello(7, long.MaxValue, 0, Bytes(random, 32), "[::1]:65535")),
            Handshake.Encode(new ServerHello(2, 9, Bytes(random, 32), Bytes(random, 32))),
            Handshake.Encode(new ClientProof(Bytes(random, 32))),
            Handshake.Encode(new Refusal("node 5 is not in the node list of node 1")),
            Handshake.EncodeAccepted(),
        };
        var decoded = 0;
        const int inputs = 60_000;
        for (var i = 0; i < inputs; i++)
        {
            var input = Mutate(random, valid[random.Next(valid.Count)]);
            if (Handshake.DecodeClientHello(input) is { } hello)
            {
                decoded++;
                Assert.That(Handshake.Encode(hello), Is.EqualTo(input), "a hello decodes only from its one encoding");
            }

            decoded += Handshake.DecodeServerReply(input) is null ? 0 : 1;
            decoded += Handshake.DecodeClientProof(input) is null ? 0 : 1;
            decoded += Handshake.DecodeVerdict(input) is null ? 0 : 1;
        }

        TestContext.Out.WriteLine($"{inputs} mutated handshake messages, {decoded} still decoded");
    }

    [Test]
    public void The_record_layer_and_reassembly_never_throw_on_mutated_streams_with_authentication_bypassed()
    {
        var random = new Random(Seed + 1);
        var streams = Enumerable.Range(0, 8).Select(_ => ValidStream(random, out _)).ToList();
        long records = 0, frames = 0, refused = 0;
        const int inputs = 20_000;
        for (var i = 0; i < inputs; i++)
        {
            var stream = Mutate(random, streams[random.Next(streams.Count)]);
            using var parser = new RecordParser(key: null);
            var assembler = new FrameAssembler();
            var offset = 0;
            while (true)
            {
                var status = parser.Parse(stream.AsSpan(offset), out var record, out var consumed);
                if (status != ParseStatus.Record)
                {
                    refused += status == ParseStatus.Malformed ? 1 : 0;
                    break;
                }

                Assert.That(consumed, Is.InRange(Records.HeaderBytes + Records.TagBytes, stream.Length - offset));
                Assert.That(record.Payload.Length, Is.LessThanOrEqualTo(Records.MaxPayloadBytes));
                offset += consumed;
                records++;
                if (record.Kind == RecordKind.Data)
                {
                    if (!assembler.Accept(record, out var frame))
                    {
                        refused++;
                        break;
                    }

                    if (frame is not null)
                    {
                        Assert.That(frame.Length, Is.LessThanOrEqualTo(TransportLimits.MaxFrameBytes));
                        frames++;
                    }
                }
                else if (record.Kind is RecordKind.Ack or RecordKind.Resumed)
                {
                    _ = Records.ReadLanePair(record.Payload[^16..]);
                }
            }
        }

        TestContext.Out.WriteLine($"{inputs} mutated streams: {records} records parsed, {frames} frames assembled, {refused} streams refused");
        Assert.That(refused, Is.GreaterThan(inputs / 4), "the mutations reach the checks (most of the rest only change payload bytes)");
    }

    [Test]
    public void With_authentication_no_mutated_record_is_ever_accepted()
    {
        var random = new Random(Seed + 2);
        var key = Bytes(random, 32);
        const int inputs = 5_000;
        for (var i = 0; i < inputs; i++)
        {
            var original = ValidStream(random, out var count, key);
            var mutated = Mutate(random, original);
            using var parser = new RecordParser(key);
            var offset = 0;
            var accepted = 0;
            while (parser.Parse(mutated.AsSpan(offset), out _, out var consumed) == ParseStatus.Record)
            {
                // Whatever authenticates must be exactly the original record at that place.
                Assert.That(mutated.AsSpan(offset, consumed).SequenceEqual(original.AsSpan(offset, Math.Min(consumed, original.Length - offset))), Is.True, $"input {i}: record {accepted} authenticated although changed");
                offset += consumed;
                accepted++;
            }

            Assert.That(accepted, Is.LessThanOrEqualTo(count));
        }
    }

    /// <summary>A stream of records as a dialer sends them: chunked frames on both lanes, interleaved, and pings.</summary>
    private static byte[] ValidStream(Random random, out int count, byte[]? key = null)
    {
        using var sealer = new RecordSealer(key ?? new byte[32]);
        var output = new MemoryStream();
        var buffer = new byte[Records.MaxRecordBytes];
        var seqs = new long[2];
        count = 0;
        for (var n = random.Next(1, 6); n > 0; n--)
        {
            var lane = (byte)random.Next(2);
            var seq = ++seqs[lane];
            var frame = Bytes(random, random.Next(0, 3) == 0 ? random.Next(65_000, 200_000) : random.Next(0, 300));
            for (var offset = 0; offset == 0 || offset < frame.Length; offset += Records.MaxPayloadBytes)
            {
                var length = Math.Min(Records.MaxPayloadBytes, frame.Length - offset);
                var flags = (offset == 0 ? ChunkFlags.First : ChunkFlags.None) | (offset + length == frame.Length ? ChunkFlags.Last : ChunkFlags.None);
                output.Write(buffer, 0, sealer.Seal(buffer, RecordKind.Data, lane, flags, seq, frame.AsSpan(offset, length)));
                count++;
                if (random.Next(4) == 0)
                {
                    output.Write(buffer, 0, sealer.Seal(buffer, RecordKind.Ping, 0, ChunkFlags.None, 0, []));
                    count++;
                }

                if (frame.Length == 0)
                {
                    break;
                }
            }
        }

        return output.ToArray();
    }

    private static byte[] Mutate(Random random, byte[] input)
    {
        var bytes = new List<byte>(input);
        for (var m = random.Next(1, 4); m > 0; m--)
        {
            var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(7))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at); // truncate
                    break;
                case 3:
                    bytes.AddRange(Bytes(random, random.Next(1, 64)));
                    break;
                case 4:
                    bytes.InsertRange(at, Bytes(random, random.Next(1, 8)));
                    break;
                case 5 when bytes.Count > 0:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 8), bytes.Count - at));
                    break;
                default:
                    // A plausible length field: small, boundary or huge values where a length sits.
                    if (bytes.Count >= 4)
                    {
                        var value = random.Next(3) switch { 0 => 0, 1 => Records.MaxPayloadBytes + random.Next(-1, 2), _ => random.Next() };
                        var position = Math.Min(at, bytes.Count - 4);
                        for (var k = 0; k < 4; k++)
                        {
                            bytes[position + k] = (byte)(value >> (8 * k));
                        }
                    }

                    break;
            }
        }

        return [.. bytes];
    }

    private static byte[] Bytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
