using System.Globalization;

namespace Cohort.Host.Configuration;

/// <summary>Reads the cluster key file named by <c>Node:KeyFile</c>: base64, as <c>cohort keygen</c> writes it.</summary>
internal static class ClusterKeyFile
{
    /// <summary>The shortest key accepted: 128 bits. <c>cohort keygen</c> writes 256.</summary>
    public const int MinKeyBytes = 16;

    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Reads and checks the key.</summary>
    /// <param name="path">The key file.</param>
    /// <param name="allowInsecure"><c>Node:AllowInsecureKeyFile</c>.</param>
    /// <param name="source">Where <c>Node:KeyFile</c> was set, for errors.</param>
    /// <exception cref="CohortStartupException">Missing, readable by others (unless allowed), or not a key.</exception>
    public static byte[] Read(string path, bool allowInsecure, string source)
    {
        if (!File.Exists(path))
        {
            throw new CohortStartupException(ConfigErrors.Format(source, "Node:KeyFile",
                "an existing cluster key file (make one with `cohort keygen` and copy it to every node)", path));
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOthers) != 0 && !allowInsecure)
        {
            throw new CohortStartupException(
                $"{path}: Node:KeyFile: expected a key only its owner can read (mode 0600), got mode 0{Convert.ToString((int)mode, 8).PadLeft(3, '0')}: " +
                $"run `chmod 600 {path}`, or set Node:AllowInsecureKeyFile to true for a key that is public anyway (a demo)");
        }

        var text = File.ReadAllText(path).Trim();
        byte[] key;
        try
        {
            key = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            key = [];
        }

        if (key.Length < MinKeyBytes)
        {
            throw new CohortStartupException(ConfigErrors.Format(path, "Node:KeyFile",
                $"the base64 of a key of at least {MinKeyBytes} bytes, as `cohort keygen` writes it",
                key.Length == 0 ? "not base64" : $"{key.Length.ToString(CultureInfo.InvariantCulture)} bytes"));
        }

        return key;
    }
}
