using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using Cohort.Host;

namespace Cohort.Cli.Commands;

/// <summary><c>cohort keygen [--output FILE] [--force]</c>: a new cluster key, mode 0600.</summary>
internal static class KeygenCommand
{
    /// <summary>Key length: 256 bits for HMAC-SHA256.</summary>
    public const int KeyBytes = 32;

    public static Command Create()
    {
        var output = new Option<FileInfo>("--output", "-o")
        {
            Description = "Where to write the key.",
            DefaultValueFactory = _ => new FileInfo("cluster.key"),
        };
        var force = new Option<bool>("--force") { Description = "Replace an existing key file." };
        var command = new Command("keygen", "Write a new random cluster key (base64, file mode 0600). Copy it to every node.") { output, force };
        command.SetAction(parse => CohortCommand.Guard(() =>
        {
            var path = parse.GetValue(output)!.FullName;
            if (File.Exists(path) && !parse.GetValue(force))
            {
                throw new CohortStartupException($"{path} exists; every node holding the old key would be cut off: pass --force to replace it", ExitCodes.Failure);
            }

            Write(path);
            Console.WriteLine($"wrote a {KeyBytes * 8}-bit cluster key to {path} (mode 0600)");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Writes a new random key, base64, mode 0600, atomically.</summary>
    public static void Write(string path)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyBytes)) + "\n";
        Host.State.DurableFile.WriteAtomically(path, Encoding.ASCII.GetBytes(key), UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
