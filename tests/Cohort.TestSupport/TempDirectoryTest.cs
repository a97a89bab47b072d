using NUnit.Framework;

namespace Cohort.TestSupport;

/// <summary>A fixture with a fresh temporary directory per test, removed after it.</summary>
public abstract class TempDirectoryTest
{
    protected TempDirectory Dir { get; private set; } = null!;

    [SetUp]
    public void CreateTempDirectory() => Dir = new TempDirectory();

    [TearDown]
    public void RemoveTempDirectory() => Dir.Dispose();
}
