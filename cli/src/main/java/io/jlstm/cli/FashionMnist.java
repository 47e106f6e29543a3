package io.jlstm.cli;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.simd.Activation;
import io.jlstm.train.Callback;
import io.jlstm.train.Fit;
import io.jlstm.train.History;
import io.jlstm.train.Losses;
import io.jlstm.train.Optimizer;
import io.jlstm.train.Trainer;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.zip.GZIPInputStream;

/**
 * The fashion-mnist seed example: each 28×28 image is 28 time steps of 28 pixels;
 * LSTM(128, relu) → Dense(128, relu) → Dense(10, softmax), adam, sparse categorical
 * crossentropy, validation_split 0.1, batch 128; test accuracy on the 10,000 test images.
 * Data: the IDX files of Debian's dataset-fashion-mnist (or a folder given with --data).
 */
final class FashionMnist {

    static final Path DEFAULT_DATA = Path.of("/usr/share/datasets/fashion-mnist");

    private FashionMnist() {
    }

    /** Images [n, 28, 28] scaled to [0, 1] and labels [n, 1]. */
    record Set(float[] x, float[] y, int n) {
        Tensor xTensor(int from, int count) {
            float[] part = new float[count * 28 * 28];
            System.arraycopy(x, from * 28 * 28, part, 0, part.length);
            return Tensor.of(part, count, 28, 28);
        }
    }

    static Set read(Path dir, String prefix, int limit) throws IOException {
        Path images = find(dir, prefix + "-images-idx3-ubyte");
        Path labels = find(dir, prefix + "-labels-idx1-ubyte");
        try (DataInputStream in = open(images); DataInputStream lin = open(labels)) {
            int magic = in.readInt();
            if (magic != 2051) {
                throw new UserError(images + ": not an IDX image file (magic " + magic + ", expected 2051)");
            }
            int n = in.readInt();
            if (n < 0 || (long) n * 28 * 28 > Integer.MAX_VALUE) {
                throw new UserError(images + ": the header claims " + n + " images");
            }
            int rows = in.readInt();
            int cols = in.readInt();
            if (rows != 28 || cols != 28) {
                throw new UserError(images + ": images are " + rows + "x" + cols + ", expected 28x28");
            }
            int lmagic = lin.readInt();
            int ln = lin.readInt();
            if (lmagic != 2049 || ln != n) {
                throw new UserError(labels + ": magic " + lmagic + " and " + ln + " labels, expected 2049 and " + n);
            }
            int count = limit > 0 ? Math.min(limit, n) : n;
            byte[] pixels = new byte[count * 28 * 28];
            in.readFully(pixels);
            float[] x = new float[pixels.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = (pixels[i] & 0xFF) / 255f;
            }
            byte[] lab = new byte[count];
            lin.readFully(lab);
            float[] y = new float[count];
            for (int i = 0; i < count; i++) {
                y[i] = lab[i] & 0xFF;
            }
            return new Set(x, y, count);
        }
    }

    private static Path find(Path dir, String name) {
        for (Path p : List.of(dir.resolve(name + ".gz"), dir.resolve(name))) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new UserError("fashion-mnist data not found: no " + name + "[.gz] in " + dir
                + " (install the Debian package dataset-fashion-mnist, or name a folder with --data)");
    }

    private static DataInputStream open(Path p) throws IOException {
        InputStream raw = Files.newInputStream(p);
        return new DataInputStream(new java.io.BufferedInputStream(
                p.toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw, 1 << 16));
    }

    static Sequential model(Random init) {
        Sequential.Builder b = Sequential.builder(28);
        Examples.addLayer(b, LstmSpec.of(128).activation(Activation.RELU), 28, init);
        Examples.addLayer(b, DenseSpec.of(128, DenseActivation.RELU), 128, init);
        Examples.addLayer(b, DenseSpec.of(10, DenseActivation.SOFTMAX), 128, init);
        return b.build();
    }

    /** Trains, prints the figures, writes history.json, loss.png and model.safetensors into {@code dir}. */
    static int run(Path data, int limit, int epochs, int batch, long seed, float lr, Path dir, PrintWriter w)
            throws IOException {
        Set train = read(data, "train", limit);
        Set test = read(data, "t10k", limit > 0 ? Math.max(1, limit / 6) : 0);
        w.println("example fashion-mnist: LSTM(128, relu) -> Dense(128, relu) -> Dense(10, softmax), adam(lr " + lr
                + ", Keras 3 form), sparse categorical crossentropy; each image is 28 steps of 28 pixels");
        w.println(String.format(Locale.ROOT, "%d training images (last 10%% held out for validation), %d test images, "
                + "%d epochs, batch %d, seed %d", train.n(), test.n(), epochs, batch, seed));
        w.flush();
        Trainer trainer;
        try (Sequential initial = model(new Random(seed))) {
            trainer = new Trainer(initial, new Optimizer.Adam(lr, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3),
                    Losses.sparseCategoricalCrossentropy(false));
        }
        History h;
        double seconds;
        try (trainer) {
            Fit fit = Fit.of(trainer).epochs(epochs).batchSize(batch).shuffle(true, seed).validationSplit(0.1)
                    .callbacks(new Callback.ProgressListener(Examples.lines(w)));
            long t0 = System.nanoTime();
            h = fit.run(train.xTensor(0, train.n()), Tensor.of(train.y(), train.n(), 1));
            seconds = (System.nanoTime() - t0) / 1e9;
        }
        Files.createDirectories(dir);
        try (Sequential model = trainer.toModel(null)) {
            int correct = 0;
            for (int from = 0; from < test.n(); from += 500) {
                int count = Math.min(500, test.n() - from);
                float[] p = model.predict(test.xTensor(from, count)).output().toFloatArray();
                for (int i = 0; i < count; i++) {
                    int best = 0;
                    for (int c = 1; c < 10; c++) {
                        if (p[i * 10 + c] > p[i * 10 + best]) {
                            best = c;
                        }
                    }
                    if (best == (int) test.y()[from + i]) {
                        correct++;
                    }
                }
            }
            double accuracy = (double) correct / test.n();
            Path modelFile = dir.resolve("model.safetensors");
            model.save(modelFile);
            Path historyFile = dir.resolve("history.json");
            h.writeJson(historyFile);
            Path png = dir.resolve("loss.png");
            LossCurve.write(png, "jlstm example fashion-mnist (" + h.epochs() + " epochs)", "crossentropy", h.loss(),
                    h.valLoss());
            AlignedLines lines = new AlignedLines();
            lines.add("epochs", h.epochs());
            lines.add("training time", String.format(Locale.ROOT, "%.1f s (%.0f samples/s)", seconds,
                    (double) h.params().trainingSamples() * h.epochs() / seconds));
            lines.add("final training loss", String.format(Locale.ROOT, "%.4f", h.loss().getLast()));
            lines.add("final validation loss", String.format(Locale.ROOT, "%.4f", h.valLoss().getLast()));
            lines.add("test accuracy", String.format(Locale.ROOT, "%.4f (%d of %d; the bar is 0.88)", accuracy, correct,
                    test.n()));
            lines.print(w);
            w.println("wrote " + historyFile);
            w.println("wrote " + png);
            w.println("wrote " + modelFile);
        }
        return 0;
    }
}
