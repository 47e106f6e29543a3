package io.jlstm.cli;

import io.jlstm.backend.Backends;
import io.jlstm.ffi.OpenBlas;
import io.jlstm.ffi.OpenBlasLoad;
import io.jlstm.simd.KernelProvider;
import io.jlstm.simd.Kernels;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jlstm info}: what this JVM and CPU offer, and which kernels and backend jlstm uses here. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show the JDK, the CPU, the vector kernels and the backend jlstm would use, and why.",
                "OpenBLAS is loaded (or extracted from the jar) to report on it."})
final class InfoCommand implements Callable<Integer> {

    private static final String VECTOR_MODULE = "jdk.incubator.vector";

    @Spec
    private CommandSpec spec;

    @Option(names = "--backend", paramLabel = "NAME", converter = BackendChoice.Converter.class,
            description = "Show this choice instead of the default one: auto, java or openblas.")
    private String backend;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        AlignedLines lines = new AlignedLines();
        lines.add("jlstm", new Main.Version().getVersion()[0].substring("jlstm ".length()));
        lines.add("java", Runtime.version() + " (" + System.getProperty("java.vendor") + ", "
                + System.getProperty("java.vm.name") + ")");
        lines.add("java home", System.getProperty("java.home"));
        lines.add("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " ("
                + System.getProperty("os.arch") + ")");
        CpuInfo cpu = CpuInfo.read();
        lines.add("cpu", cpu.model());
        lines.add("cpu threads", Runtime.getRuntime().availableProcessors());
        lines.add("cpu features", cpu.featureLine());

        boolean vectorModule = ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent();
        lines.add("vector module", vectorModule ? VECTOR_MODULE + " present"
                : VECTOR_MODULE + " absent (pass --add-modules " + VECTOR_MODULE + ")");
        Kernels kernels = KernelProvider.get();
        lines.add("vector width", kernels.vectorBitSize() == 0 ? "none (scalar kernels)"
                : kernels.vectorBitSize() + " bits");
        lines.add("kernels", kernels.name() + " (" + KernelProvider.reason() + ")");

        String label = backend == null ? "backend" : "backend (--backend " + backend + ")";
        try {
            Backends.Selection sel = BackendChoice.select(backend);
            lines.add(label, sel.backend().name() + " (" + sel.reason() + ")");
        } catch (UserError | IllegalArgumentException e) {
            lines.add(label, "unavailable: " + e.getMessage());
        }

        OpenBlasLoad load = OpenBlas.load();
        if (load.loaded()) {
            OpenBlas lib = load.library();
            lines.add("openblas", "loaded");
            lines.add("openblas source", load.source().name().toLowerCase(java.util.Locale.ROOT));
            lines.add("openblas path", load.path() != null ? load.path() : "(opened by name, path unknown)");
            lines.add("openblas config", lib.config());
            lines.add("openblas core", lib.coreName());
            lines.add("openblas threads", lib.numThreads());
        } else {
            lines.add("openblas", "not available: " + load.reason());
        }
        lines.print(out);
        return 0;
    }
}
