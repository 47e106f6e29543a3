package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a test class's {@code main} in a fresh JVM (for properties read once per JVM) and returns its output. */
public final class ChildJvm {
    private ChildJvm() {
    }

    /** Standard output of {@code main}'s class run with the vector module and {@code -D} properties; fails the test on a non-zero exit. */
    public static String run(Class<?> main, String... properties) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED"));
        for (String p : properties) {
            cmd.add("-D" + p);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        // output to a file, so that the time limit holds even when the child hangs with its pipe open
        Path log = Files.createTempFile("jlstm-child-", ".out");
        try {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
                    .redirectOutput(log.toFile()).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("child JVM " + main.getName() + " did not finish in 120 s");
            }
            assertEquals(0, p.exitValue(), "child JVM failed");
            return Files.readString(log);
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
