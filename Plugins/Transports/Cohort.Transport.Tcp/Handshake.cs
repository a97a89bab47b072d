using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Cohort.Transport.Tcp;

/// <summary>The dialer's first message: who it is, whom it wants, a fresh nonce, where it listens.</summary>
internal sealed record ClientHello(int Node, long Incarnation, int Target, byte[] Nonce, string ListenAddress);

/// <summary>The acceptor's answer: who it is, its fresh nonce, and its proof of the cluster key.</summary>
internal sealed record ServerHello(int Node, long Incarnation, byte[] Nonce, byte[] Proof);

/// <summary>The dialer's proof of the cluster key, over both hellos and the acceptor's proof.</summary>
internal sealed record ClientProof(byte[] Proof);

/// <summary>Sent instead of an answer when a handshake is refused, so the other end can say why.</summary>
internal sealed record Refusal(string Reason);

/// <summary>The acceptor's last handshake message: the dialer's proof holds; records follow.</summary>
internal sealed record Accepted
{
    public static Accepted Instance { get; } = new();
}

/// <summary>
/// The handshake of a connection, before any record: ClientHello, ServerHello (with the acceptor's
/// proof), ClientProof, Accepted (or a Refusal in place of either answer). Each message is a 2-byte little-endian length and a body of at most
/// <see cref="MaxMessageBytes"/> bytes. Both proofs are HMAC-SHA256 under the cluster key over the
/// transcript, which holds both fresh nonces, so no recorded handshake can be replayed; the labels
/// differ per role, so neither proof can be reflected as the other. The keys of the connection's two
/// directions are derived from the cluster key and the transcript with HKDF-SHA256.
/// </summary>
internal static class Handshake
{
    public const int MaxMessageBytes = 512;
    public const int NonceBytes = 32;
    public const int ProofBytes = 32;
    public const int KeyBytes = 32;
    public const int MaxAddressBytes = 255;

    /// <summary>"CHTP": the first bytes a dialer sends; anything else is not a Cohort peer.</summary>
    public const uint Magic = 0x50544843;
    public const byte Version = 1;

    private const byte ClientHelloType = 1;
    private const byte ServerHelloType = 2;
    private const byte ClientProofType = 3;
    private const byte RefusalType = 4;
    private const byte AcceptedType = 5;
    private const int ClientHelloFixed = 4 + 1 + 1 + 4 + 8 + 4 + NonceBytes + 1;
    private const int ServerHelloFixed = 1 + 4 + 8 + NonceBytes;

    private static readonly byte[] AcceptorLabel = "cohort/1 acceptor proof"u8.ToArray();
    private static readonly byte[] DialerLabel = "cohort/1 dialer proof"u8.ToArray();
    private static readonly byte[] KeysLabel = "cohort/1 session keys"u8.ToArray();

    public static byte[] Encode(ClientHello hello)
    {
        var address = Encoding.UTF8.GetBytes(hello.ListenAddress);
        if (address.Length > MaxAddressBytes)
        {
            throw new ArgumentException($"a listen address is at most {MaxAddressBytes} bytes", nameof(hello));
        }

        var body = new byte[ClientHelloFixed + address.Length];
        var span = body.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        span[4] = Version;
        span[5] = ClientHelloType;
        BinaryPrimitives.WriteInt32LittleEndian(span[6..], hello.Node);
        BinaryPrimitives.WriteInt64LittleEndian(span[10..], hello.Incarnation);
        BinaryPrimitives.WriteInt32LittleEndian(span[18..], hello.Target);
        hello.Nonce.CopyTo(span[22..]);
        span[22 + NonceBytes] = (byte)address.Length;
        address.CopyTo(span[ClientHelloFixed..]);
        return body;
    }

    public static byte[] Encode(ServerHello hello)
    {
        var body = new byte[ServerHelloFixed + ProofBytes];
        WriteServerHelloFields(body, hello.Node, hello.Incarnation, hello.Nonce);
        hello.Proof.CopyTo(body, ServerHelloFixed);
        return body;
    }

    public static byte[] Encode(ClientProof proof)
    {
        var body = new byte[1 + ProofBytes];
        body[0] = ClientProofType;
        proof.Proof.CopyTo(body, 1);
        return body;
    }

    public static byte[] Encode(Refusal refusal)
    {
        var text = Encoding.UTF8.GetBytes(refusal.Reason);
        var length = Math.Min(text.Length, 255);
        var body = new byte[2 + length];
        body[0] = RefusalType;
        body[1] = (byte)length;
        text.AsSpan(0, length).CopyTo(body.AsSpan(2));
        return body;
    }

    /// <summary>Decodes a dialer's first message; null for anything malformed. Never throws on input.</summary>
    public static ClientHello? DecodeClientHello(ReadOnlySpan<byte> body)
    {
        if (body.Length < ClientHelloFixed || BinaryPrimitives.ReadUInt32LittleEndian(body) != Magic || body[4] != Version || body[5] != ClientHelloType)
        {
            return null;
        }

        var node = BinaryPrimitives.ReadInt32LittleEndian(body[6..]);
        var incarnation = BinaryPrimitives.ReadInt64LittleEndian(body[10..]);
        var target = BinaryPrimitives.ReadInt32LittleEndian(body[18..]);
        var addressLength = body[22 + NonceBytes];
        if (node < 1 || incarnation < 1 || target < 0 || body.Length != ClientHelloFixed + addressLength)
        {
            return null;
        }

        string address;
        try
        {
            address = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body[ClientHelloFixed..]);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        return new ClientHello(node, incarnation, target, body.Slice(22, NonceBytes).ToArray(), address);
    }

    /// <summary>Decodes the acceptor's answer: a <see cref="ServerHello"/>, a <see cref="Refusal"/>, or null when malformed.</summary>
    public static object? DecodeServerReply(ReadOnlySpan<byte> body)
    {
        if (body.Length >= 2 && body[0] == RefusalType)
        {
            return DecodeRefusal(body);
        }

        if (body.Length != ServerHelloFixed + ProofBytes || body[0] != ServerHelloType)
        {
            return null;
        }

        var node = BinaryPrimitives.ReadInt32LittleEndian(body[1..]);
        var incarnation = BinaryPrimitives.ReadInt64LittleEndian(body[5..]);
        return node < 1 || incarnation < 1
            ? null
            : new ServerHello(node, incarnation, body.Slice(13, NonceBytes).ToArray(), body[ServerHelloFixed..].ToArray());
    }

    /// <summary>Decodes the dialer's proof; null when malformed.</summary>
    public static ClientProof? DecodeClientProof(ReadOnlySpan<byte> body) =>
        body.Length == 1 + ProofBytes && body[0] == ClientProofType ? new ClientProof(body[1..].ToArray()) : null;

    public static byte[] EncodeAccepted() => [AcceptedType];

    /// <summary>Decodes the acceptor's verdict on the dialer's proof: <see cref="Accepted"/>, a
    /// <see cref="Refusal"/>, or null when malformed.</summary>
    public static object? DecodeVerdict(ReadOnlySpan<byte> body) =>
        body.Length == 1 && body[0] == AcceptedType ? Accepted.Instance : DecodeRefusal(body);

    /// <summary>Decodes a refusal; null when the body is not one.</summary>
    public static Refusal? DecodeRefusal(ReadOnlySpan<byte> body)
    {
        if (body.Length < 2 || body[0] != RefusalType || body.Length != 2 + body[1])
        {
            return null;
        }

        return new Refusal(Encoding.UTF8.GetString(body[2..]));
    }

    /// <summary>The transcript both proofs and the keys cover: the dialer's hello and the acceptor's
    /// fields before its proof.</summary>
    public static byte[] Transcript(byte[] clientHelloBody, int acceptorNode, long acceptorIncarnation, byte[] acceptorNonce)
    {
        var transcript = new byte[clientHelloBody.Length + ServerHelloFixed];
        clientHelloBody.CopyTo(transcript, 0);
        WriteServerHelloFields(transcript.AsSpan(clientHelloBody.Length), acceptorNode, acceptorIncarnation, acceptorNonce);
        return transcript;
    }

    public static byte[] AcceptorProof(ReadOnlySpan<byte> key, byte[] transcript) => Mac(key, AcceptorLabel, transcript, []);

    public static byte[] DialerProof(ReadOnlySpan<byte> key, byte[] transcript, byte[] acceptorProof) => Mac(key, DialerLabel, transcript, acceptorProof);

    /// <summary>Constant-time comparison of a received proof with the expected one.</summary>
    public static bool ProofMatches(byte[] expected, byte[] received) =>
        CryptographicOperations.FixedTimeEquals(expected, received);

    /// <summary>The keys of the connection: dialer to acceptor, acceptor to dialer.</summary>
    public static (byte[] DialerToAcceptor, byte[] AcceptorToDialer) DeriveKeys(ReadOnlySpan<byte> clusterKey, byte[] transcript, byte[] dialerNonce, byte[] acceptorNonce)
    {
        var salt = new byte[NonceBytes * 2];
        dialerNonce.CopyTo(salt, 0);
        acceptorNonce.CopyTo(salt, NonceBytes);
        var info = new byte[KeysLabel.Length + 32];
        KeysLabel.CopyTo(info, 0);
        SHA256.HashData(transcript, info.AsSpan(KeysLabel.Length));
        var keys = new byte[KeyBytes * 2];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, clusterKey, keys, salt, info);
        return (keys[..KeyBytes], keys[KeyBytes..]);
    }

    private static void WriteServerHelloFields(Span<byte> destination, int node, long incarnation, byte[] nonce)
    {
        destination[0] = ServerHelloType;
        BinaryPrimitives.WriteInt32LittleEndian(destination[1..], node);
        BinaryPrimitives.WriteInt64LittleEndian(destination[5..], incarnation);
        nonce.CopyTo(destination[13..]);
    }

    private static byte[] Mac(ReadOnlySpan<byte> key, byte[] label, byte[] transcript, byte[] extra)
    {
        using var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        mac.AppendData(label);
        mac.AppendData(transcript);
        mac.AppendData(extra);
        return mac.GetHashAndReset();
    }
}
