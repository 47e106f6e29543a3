package io.jlstm.cli;

import io.jlstm.NonFinitePolicy;
import io.jlstm.PredictOptions;
import io.jlstm.Prediction;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jlstm predict}: runs a model on the sequences of one file. */
@Command(name = "predict", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run a model on an input file and print or write its output.",
                "",
                "Input by extension: .npy of shape [batch, time, features] (a rank-2 [time, features] array "
                        + "is one sequence, batch 1), or .csv with one row of features per time step (one sequence).",
                "Output by extension (.npy or .csv). Without --output the main output is printed as CSV rows: "
                        + "one row per batch element, or per batch element and time step for sequence outputs.",
                "A one-line summary (backend, shapes, time) goes to stderr."})
final class PredictCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL",
            description = "A jlstm model file (.safetensors).")
    private Path model;

    @Option(names = {"-i", "--input"}, required = true, paramLabel = "X",
            description = "Input sequences: .npy [batch, time, features] or [time, features], or .csv [time, features].")
    private Path input;

    @Option(names = {"-o", "--output"}, paramLabel = "Y",
            description = "Write the output here (.npy or .csv) instead of printing it.")
    private Path output;

    @Option(names = "--all-outputs",
            description = "Also write the other outputs (state_h, state_c, ...) as Y with the name before the "
                    + "extension (y.state_h.npy); without --output, print each after a '# name [shape]' line.")
    private boolean allOutputs;

    @Option(names = "--backend", paramLabel = "NAME", converter = BackendChoice.Converter.class,
            description = "auto, java or openblas (default: the jlstm.backend property, else auto).")
    private String backend;

    @Option(names = "--reject-nonfinite",
            description = "Fail if the input holds NaN or infinity instead of computing with it.")
    private boolean rejectNonFinite;

    @Override
    public Integer call() throws IOException {
        TensorFiles.requireReadable(model, "model file");
        if (output != null) {
            TensorFiles.format(output, "output");
            TensorFiles.requireWritableFolder(output, "output");
        }
        Tensor x = TensorFiles.readSequences(input);
        Backends.Selection selection = BackendChoice.select(backend);

        long t0 = System.nanoTime();
        try (Sequential m = Sequential.load(model, selection.backend())) {
            long t1 = System.nanoTime();
            long features = x.shape()[2];
            if (features != m.inputFeatures()) {
                throw new UserError("input " + input + " has " + features + (features == 1 ? " feature" : " features")
                        + " per time step, but model "
                        + model + " expects " + m.inputFeatures());
            }
            PredictOptions options = PredictOptions.defaults()
                    .nonFinite(rejectNonFinite ? NonFinitePolicy.REJECT : NonFinitePolicy.PROPAGATE);
            Prediction p = m.predict(x, options);
            long t2 = System.nanoTime();

            PrintWriter out = spec.commandLine().getOut();
            List<String> written = new ArrayList<>();
            for (Map.Entry<String, Tensor> e : p.outputs().entrySet()) {
                boolean main = e.getKey().equals("output");
                if (!main && !allOutputs) {
                    continue;
                }
                if (output == null) {
                    if (allOutputs) {
                        out.println("# " + e.getKey() + " " + TensorFiles.shape(e.getValue().shape()));
                    }
                    TensorFiles.printRows(out, e.getValue());
                } else {
                    Path file = main ? output : TensorFiles.withSuffix(output, e.getKey());
                    TensorFiles.write(file, e.getValue());
                    written.add(file.toString());
                }
            }
            out.flush();
            PrintWriter err = spec.commandLine().getErr();
            err.println(String.format(Locale.ROOT, "jlstm predict: backend %s, input %s -> output %s, "
                            + "load %.1f ms, predict %.1f ms%s",
                    m.backend().name(), TensorFiles.shape(x.shape()), TensorFiles.shape(p.output().shape()),
                    (t1 - t0) / 1e6, (t2 - t1) / 1e6, written.isEmpty() ? "" : ", wrote " + String.join(", ", written)));
            err.flush();
        }
        return 0;
    }
}
