using System.Runtime.InteropServices;

namespace Cohort.Fencing.PoisonPill;

/// <summary>
/// One open poison-pill device: a regular file (created and laid out when missing) or a block device. Every write is
/// durable before it returns (<c>fdatasync</c>; a block device is also opened <c>O_DSYNC</c>). A block device is
/// opened <c>O_DIRECT</c> and read into a 4096-aligned buffer, so that a read sees the disk, not this machine's page
/// cache (another machine wrote the poison).
/// </summary>
/// <remarks>Open one per operation and dispose of it: nothing is cached between operations. A regular file is read
/// through the page cache — coherent on one machine (demos, tests) and on a cluster file system that keeps caches
/// coherent; use a shared block device between machines.</remarks>
internal sealed unsafe partial class PillDevice : IDisposable
{
    private readonly int _fd;

    private PillDevice(string path, int fd, bool block, int slotSize, int slotCount)
    {
        Path = path;
        _fd = fd;
        IsBlockDevice = block;
        SlotSize = slotSize;
        SlotCount = slotCount;
    }

    public string Path { get; }

    public bool IsBlockDevice { get; }

    public int SlotSize { get; }

    public int SlotCount { get; }

    /// <summary>Opens <paramref name="path"/>; lays it out when it was never laid out (a missing or all-zero file, a
    /// block device whose header block is zero): every node writes the same header, so doing it at once is harmless.</summary>
    /// <exception cref="IOException">It cannot be opened, read, laid out, or is neither a regular file nor a block
    /// device; or its header is damaged.</exception>
    public static PillDevice Open(string path)
    {
        var type = FileType(path);
        var block = type == S_IFBLK;
        if (type is not (0 or S_IFREG or S_IFBLK))
        {
            throw new IOException($"{path}: neither a regular file nor a block device");
        }

        var flags = O_RDWR | O_CLOEXEC | (block ? O_DIRECT | O_DSYNC : O_CREAT);
        var fd = open(path, flags, 0x1B0 /* 0660 */);
        if (fd < 0)
        {
            throw new IOException($"{path}: cannot open: {Marshal.GetLastPInvokeErrorMessage()}");
        }

        try
        {
            var header = new AlignedBuffer(PillLayout.HeaderSize);
            try
            {
                var read = ReadAt(fd, header, 0, path);
                var (slotSize, slotCount, error) = read < PillLayout.HeaderSize && read > 0
                    ? (0, 0, $"the file is shorter ({read} bytes) than a header block")
                    : PillLayout.ReadHeader(header.Span[..PillLayout.HeaderSize]);
                if (error is not null)
                {
                    throw new IOException($"{path}: {error}");
                }

                if (slotSize == 0)
                {
                    (slotSize, slotCount) = (PillLayout.SlotSize, PillLayout.SlotCount);
                    LayOut(fd, header, block, path);
                }
                else if (!block && Length(fd, path) < PillLayout.HeaderSize + ((long)slotSize * slotCount) && ftruncate(fd, PillLayout.HeaderSize + ((long)slotSize * slotCount)) != 0)
                {
                    throw new IOException($"{path}: cannot extend it to its slots: {Marshal.GetLastPInvokeErrorMessage()}");
                }

                return new PillDevice(path, fd, block, slotSize, slotCount);
            }
            finally
            {
                header.Dispose();
            }
        }
        catch
        {
            _ = close(fd);
            throw;
        }
    }

    /// <summary>Reads slot <paramref name="node"/> from the device (not from a cache).</summary>
    public byte[] ReadSlot(int node)
    {
        CheckNode(node);
        using var buffer = new AlignedBuffer(SlotSize);
        var read = ReadAt(_fd, buffer, PillLayout.OffsetOf(node, SlotSize), Path);
        return read == SlotSize ? buffer.Span[..SlotSize].ToArray() : throw new IOException($"{Path}: slot {node}: read {read} of {SlotSize} bytes");
    }

    /// <summary>Writes slot <paramref name="node"/> and returns once it is durable.</summary>
    public void WriteSlot(int node, ReadOnlySpan<byte> slot)
    {
        CheckNode(node);
        using var buffer = new AlignedBuffer(SlotSize);
        slot.CopyTo(buffer.Span);
        WriteAt(_fd, buffer, SlotSize, PillLayout.OffsetOf(node, SlotSize), Path);
    }

    public void Dispose() => _ = close(_fd);

    private void CheckNode(int node)
    {
        if (node <= 0 || node >= SlotCount)
        {
            throw new IOException($"{Path}: node id {node} has no slot (the device has slots 1 to {SlotCount - 1})");
        }
    }

    private static void LayOut(int fd, AlignedBuffer header, bool block, string path)
    {
        if (block)
        {
            if (Length(fd, path) < PillLayout.DeviceSize)
            {
                throw new IOException($"{path}: the block device is smaller than the {PillLayout.DeviceSize} bytes of a poison-pill layout");
            }
        }
        else if (ftruncate(fd, PillLayout.DeviceSize) != 0)
        {
            throw new IOException($"{path}: cannot size it: {Marshal.GetLastPInvokeErrorMessage()}");
        }

        PillLayout.WriteHeader(header.Span);
        WriteAt(fd, header, PillLayout.HeaderSize, 0, path);
    }

    private static long Length(int fd, string path)
    {
        var end = lseek(fd, 0, 2 /* SEEK_END */);
        return end >= 0 ? end : throw new IOException($"{path}: cannot find its size: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    private static int ReadAt(int fd, AlignedBuffer buffer, long offset, string path)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = pread(fd, buffer.Pointer + done, (nuint)(buffer.Length - done), offset + done);
            if (n < 0)
            {
                throw new IOException($"{path}: read at {offset}: {Marshal.GetLastPInvokeErrorMessage()}");
            }

            if (n == 0)
            {
                break; // end of file: a file never laid out
            }

            done += (int)n;
        }

        return done;
    }

    private static void WriteAt(int fd, AlignedBuffer buffer, int length, long offset, string path)
    {
        var done = 0;
        while (done < length)
        {
            var n = pwrite(fd, buffer.Pointer + done, (nuint)(length - done), offset + done);
            if (n <= 0)
            {
                throw new IOException($"{path}: write at {offset}: {Marshal.GetLastPInvokeErrorMessage()}");
            }

            done += (int)n;
        }

        if (fdatasync(fd) != 0)
        {
            throw new IOException($"{path}: fdatasync: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }

    /// <summary>The file type bits of <paramref name="path"/> (<c>S_IFREG</c>, <c>S_IFBLK</c>, ...), 0 when it does
    /// not exist.</summary>
    private static int FileType(string path)
    {
        // statx has one layout on every architecture (stat does not): stx_mode is the u16 at offset 28.
        var buffer = stackalloc byte[256];
        if (statx(-100 /* AT_FDCWD */, path, 0, 1 /* STATX_TYPE */, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == 2 /* ENOENT */ ? 0 : throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        return *(ushort*)(buffer + 28) & 0xF000;
    }

    private const int S_IFREG = 0x8000;
    private const int S_IFBLK = 0x6000;
    private const int O_RDWR = 2;
    private const int O_CREAT = 0x40;
    private const int O_DSYNC = 0x1000;
    private const int O_CLOEXEC = 0x80000;

    // O_DIRECT differs between architectures (asm-generic/fcntl.h against arm64's own).
    private static readonly int O_DIRECT = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    /// <summary>Memory aligned for O_DIRECT (4096 covers every logical block size up to 4 KiB).</summary>
    private sealed class AlignedBuffer : IDisposable
    {
        public AlignedBuffer(int length)
        {
            Length = length;
            Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, PillLayout.HeaderSize), PillLayout.HeaderSize);
            Span.Clear();
        }

        public byte* Pointer { get; }

        public int Length { get; }

        public Span<byte> Span => new(Pointer, Length);

        public void Dispose() => NativeMemory.AlignedFree(Pointer);
    }
}
