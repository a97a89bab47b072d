namespace Cohort.Dlm.Bench;

/// <summary>The command line: <c>[--quick] [--only local|recovery|memory]...</c>.</summary>
internal sealed record Options(bool Quick, IReadOnlySet<string> Only)
{
    public static readonly string[] Parts = ["local", "recovery", "memory"];

    public static Options Parse(string[] args)
    {
        var quick = false;
        var only = new HashSet<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--only" when i + 1 < args.Length && Parts.Contains(args[i + 1]):
                    only.Add(args[++i]);
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}': expected --quick, or --only followed by one of {string.Join(", ", Parts)}");
            }
        }

        return new Options(quick, only);
    }

    public bool Runs(string part) => Only.Count == 0 || Only.Contains(part);
}
