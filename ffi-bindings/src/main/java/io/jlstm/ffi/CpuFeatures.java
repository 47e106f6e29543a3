package io.jlstm.ffi;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The CPU's feature flags as Linux reports them in the first {@code flags} line of /proc/cpuinfo
 * (lower case, e.g. "avx2", "avx512f", "fma"). Where there is no such file (not Linux) or it cannot be read,
 * the set is empty and {@link #source()} says why, so every feature reads as absent. Immutable.
 *
 * @param flags  the flags, lower case; empty when unknown
 * @param source where they came from, or why there are none (for messages)
 */
record CpuFeatures(Set<String> flags, String source) {

    static final Path CPUINFO = Path.of("/proc/cpuinfo");

    CpuFeatures {
        flags = Set.copyOf(flags);
        Objects.requireNonNull(source, "source");
    }

    /** This host's flags from /proc/cpuinfo. */
    static CpuFeatures read() {
        return read(CPUINFO);
    }

    /** The flags from a cpuinfo-format file; empty (with the reason) when it is missing or unreadable. */
    static CpuFeatures read(Path cpuinfo) {
        if (!Files.isReadable(cpuinfo)) {
            return new CpuFeatures(Set.of(), "no readable " + cpuinfo);
        }
        try (Stream<String> lines = Files.lines(cpuinfo)) {  // stops at the first CPU's flags line
            Optional<String> flags = lines.filter(CpuFeatures::isFlagsLine).findFirst();
            return flags.map(line -> new CpuFeatures(parseFlags(line), cpuinfo.toString()))
                    .orElseGet(() -> new CpuFeatures(Set.of(), "no flags line in " + cpuinfo));
        } catch (IOException | UncheckedIOException e) {
            return new CpuFeatures(Set.of(), "cannot read " + cpuinfo + " (" + e + ")");
        }
    }

    /** Named flags, for tests. */
    static CpuFeatures of(String source, String... flags) {
        return new CpuFeatures(Set.of(flags), source);
    }

    /** x86 "flags : ..." (ARM says "Features"; it has no AVX2 to find anyway). */
    private static boolean isFlagsLine(String line) {
        int colon = line.indexOf(':');
        return colon > 0 && line.substring(0, colon).strip().equals("flags");
    }

    private static Set<String> parseFlags(String line) {
        return Arrays.stream(line.substring(line.indexOf(':') + 1).strip().split("\\s+"))
                .filter(s -> !s.isEmpty()).map(s -> s.toLowerCase(Locale.ROOT)).collect(Collectors.toUnmodifiableSet());
    }

    boolean has(String flag) {
        return flags.contains(flag.toLowerCase(Locale.ROOT));
    }

    boolean hasAvx2() {
        return has("avx2");
    }
}
