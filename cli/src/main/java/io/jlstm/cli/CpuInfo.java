package io.jlstm.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.Set;

/**
 * What {@code /proc/cpuinfo} says about the first CPU: its model name and the instruction set
 * extensions the kernels care about. On systems without that file everything is unknown.
 * Immutable.
 *
 * @param model    the model name, or {@code "unknown"}
 * @param features for each flag of {@link #FLAGS}, whether the CPU has it; empty when unknown
 */
record CpuInfo(String model, SequencedMap<String, Boolean> features) {

    /** The flags that decide vector width and FMA use. */
    static final List<String> FLAGS = List.of("avx2", "fma", "avx512f", "avx512_bf16");

    static CpuInfo read() {
        return read(Path.of("/proc/cpuinfo"));
    }

    static CpuInfo read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return new CpuInfo("unknown", new LinkedHashMap<>());
        }
        String model = null;
        Set<String> flags = null;
        for (String line : lines) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                if (line.isBlank() && model != null && flags != null) {
                    break; // the first processor block is enough
                }
                continue;
            }
            String key = line.substring(0, colon).strip();
            String value = line.substring(colon + 1).strip();
            if (model == null && (key.equals("model name") || key.equals("Model") || key.equals("cpu model"))) {
                model = value;
            } else if (flags == null && (key.equals("flags") || key.equals("Features"))) {
                flags = Set.of(value.split("\\s+"));
            }
        }
        SequencedMap<String, Boolean> features = new LinkedHashMap<>();
        if (flags != null) {
            for (String f : FLAGS) {
                features.put(f, flags.contains(f));
            }
        }
        return new CpuInfo(model != null ? model : "unknown", features);
    }

    /** {@code "avx2 yes, fma yes, avx512f no, avx512_bf16 no"}, or {@code "unknown"}. */
    String featureLine() {
        if (features.isEmpty()) {
            return "unknown";
        }
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Boolean> e : features.entrySet()) {
            sb.append(sb.isEmpty() ? "" : ", ").append(e.getKey()).append(e.getValue() ? " yes" : " no");
        }
        return sb.toString();
    }
}
