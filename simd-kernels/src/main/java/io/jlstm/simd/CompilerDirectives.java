package io.jlstm.simd;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.management.ObjectName;

/**
 * Keeps HotSpot's C1 compiler away from a kernel that only C2 can compile well.
 *
 * <p>C1 does not intrinsify the Vector API: it inlines its Java fallback, one object per vector.
 * A register tile with more than about 20 vector accumulators then runs C1 "out of virtual
 * registers". When that happens at tier 3 after the method already runs as tier-2 code (chosen
 * while C2's queue is long), HotSpot keeps the tier-2 code for good: boxed vectors, about 1 GFLOP/s
 * instead of 150. Excluding the method from C1 (a compiler directive, JEP 165, added at run time
 * through the {@code Compiler.directives_add} diagnostic command) makes the interpreter hand it to
 * C2 directly, which compiles it within a fraction of a second.
 *
 * <p>Stateless; the directive is global to the JVM and lasts as long as it does.
 */
final class CompilerDirectives {

    private CompilerDirectives() {
    }

    /**
     * Asks HotSpot to compile {@code method} (as {@code pkg.Class::name}) with C2 only. Returns
     * null on success, else why it could not (no HotSpot diagnostic command in this runtime, no
     * temporary file, the command refused): the caller then uses a kernel C1 can compile.
     */
    static String excludeFromC1(String method) {
        Path file = null;
        try {
            file = Files.createTempFile("jlstm-compiler-directive", ".json");
            Files.writeString(file, "[{ match: \"" + method + "\", c1: { Exclude: true } }]", StandardCharsets.UTF_8);
            Object reply = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "compilerDirectivesAdd",
                    new Object[] {new String[] {file.toString()}}, new String[] {String[].class.getName()});
            String text = String.valueOf(reply);
            return text.contains("1 compiler directives added") ? null : "Compiler.directives_add said: " + text.strip();
        } catch (Exception | LinkageError e) {
            return "no compiler directive: " + e;
        } finally {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (Exception ignored) {
                    // a leftover temporary file of 60 bytes; the directive is already read
                }
            }
        }
    }
}
