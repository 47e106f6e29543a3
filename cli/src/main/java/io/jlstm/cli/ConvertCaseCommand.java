package io.jlstm.cli;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.cases.ReferenceCase;
import io.jlstm.io.Npy;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code jlstm convert-case}: a reference case folder (shared/oracle format) as a model file and an input. */
@Command(name = "convert-case", mixinStandardHelpOptions = true,
        description = {"Build the model of a reference case (a folder with case.json, see shared/oracle/README.md) "
                + "and save it as a jlstm model file.",
                "Also writes the case's input beside it as <OUT without extension>.input.npy, ready for "
                        + "'jlstm predict --model OUT --input <that>'. Training cases convert to their forward model."})
final class ConvertCaseCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "CASE_DIR", description = "The reference case folder.")
    private Path caseDir;

    @Parameters(index = "1", paramLabel = "OUT", description = "The model file to write (.safetensors).")
    private Path out;

    @Option(names = "--no-input", description = "Do not write the input .npy.")
    private boolean noInput;

    @Override
    public Integer call() throws IOException {
        if (!Files.isDirectory(caseDir)) {
            throw new UserError("reference case folder not found: " + caseDir);
        }
        TensorFiles.requireWritableFolder(out, "model file");
        ReferenceCase c = ReferenceCase.read(caseDir);
        PrintWriter pw = spec.commandLine().getOut();
        // The Java backend: the model is only saved, never run here, so OpenBLAS need not load.
        try (Sequential m = c.toModel(Backends.java())) {
            m.save(out);
            pw.println("wrote " + out + " (case " + c.name() + ", " + c.kind() + ": " + m.layers().size()
                    + (m.layers().size() == 1 ? " layer, " : " layers, ") + m.parameterCount() + " parameters, "
                    + m.inputFeatures() + " input features, outputs " + m.outputNames() + ")");
        }
        if (!noInput) {
            Path npy = TensorFiles.replaceExtension(out, "input.npy");
            Tensor x = c.input();
            Npy.write(npy, x);
            pw.println("wrote " + npy + " (input " + TensorFiles.shape(x.shape()) + ")");
            pw.println("try: jlstm predict --model " + out + " --input " + npy);
        }
        return 0;
    }
}
