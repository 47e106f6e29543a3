package io.jlstm.train;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Hooks into {@link Fit#run}, Keras style. Epochs are 0-based here (as Keras passes them) and
 * 1-based in anything printed or in file names. Every method defaults to doing nothing. A
 * callback object may be reused across runs: {@link #onTrainBegin} resets its state.
 */
public interface Callback {

    /** Before the first epoch. */
    default void onTrainBegin(Fit.Params params, Trainer trainer) {
    }

    /** Before epoch {@code epoch} (0-based) trains. */
    default void onEpochBegin(int epoch, Trainer trainer) {
    }

    /**
     * After epoch {@code epoch} (0-based), with its logs (read-only).
     *
     * @return true to stop training after this epoch
     */
    default boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
        return false;
    }

    /** After the last epoch run (also when a callback stopped training; not after an exception). */
    default void onTrainEnd(History history, Trainer trainer) {
    }

    /** Whether a smaller or a larger monitored value is better. */
    enum Mode {
        MIN, MAX,
        /** Keras' rule: MAX for names containing {@code acc} or {@code auc}, MIN otherwise. */
        AUTO;

        Mode resolve(String monitor) {
            if (this != AUTO) {
                return this;
            }
            String m = monitor.toLowerCase(Locale.ROOT);
            return m.contains("acc") || m.contains("auc") ? MAX : MIN;
        }
    }

    /** Tracks the best value of a monitored log key, Keras' {@code min_delta} included. */
    private static boolean improves(Mode mode, double current, double minDelta, double best) {
        if (Double.isNaN(current)) {
            return false;
        }
        return mode == Mode.MAX ? current - minDelta > best : current + minDelta < best;
    }

    private static void checkMonitor(String who, String monitor, Fit.Params params) {
        if (!params.logKeys().contains(monitor)) {
            throw new IllegalArgumentException(who + " monitors '" + monitor + "', but the logs of this fit have "
                    + params.logKeys() + (monitor.startsWith("val_") ? " (no validation data given?)" : ""));
        }
    }

    /**
     * Stops training when {@code monitor} has not improved by more than {@code minDelta} for
     * {@code patience} epochs (Keras' {@code EarlyStopping} without baseline and
     * start_from_epoch): with a plateau from the start it stops after epoch {@code patience + 1}.
     * With {@code restoreBestWeights} the weights of the best epoch are put back when training
     * stops early (as Keras does; when training runs to the end they are kept as they are).
     * A monitored key missing from the fit's logs is refused when training begins (Keras only
     * warns).
     */
    final class EarlyStopping implements Callback {
        private final String monitor;
        private final int patience;
        private final double minDelta;
        private final Mode mode;
        private boolean restoreBestWeights;
        private java.util.List<java.util.List<float[]>> bestWeights;
        private Mode resolved;
        private double best;
        private int bestEpoch;
        private int wait;
        private int stoppedEpoch;

        public EarlyStopping(String monitor, int patience, double minDelta) {
            this(monitor, patience, minDelta, Mode.AUTO);
        }

        /** Puts the best epoch's weights back when training stops early. */
        public EarlyStopping restoreBestWeights(boolean restore) {
            this.restoreBestWeights = restore;
            return this;
        }

        public EarlyStopping(String monitor, int patience, double minDelta, Mode mode) {
            this.monitor = Objects.requireNonNull(monitor, "monitor");
            if (patience < 0) {
                throw new IllegalArgumentException("patience must be at least 0, got " + patience);
            }
            if (!(minDelta >= 0) || Double.isInfinite(minDelta)) {
                throw new IllegalArgumentException("min delta must be finite and at least 0, got " + minDelta);
            }
            this.patience = patience;
            this.minDelta = minDelta;
            this.mode = Objects.requireNonNull(mode, "mode");
            reset();
        }

        private void reset() {
            resolved = mode.resolve(monitor);
            best = resolved == Mode.MAX ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            bestEpoch = -1;
            wait = 0;
            stoppedEpoch = -1;
            bestWeights = null;
        }

        @Override
        public void onTrainBegin(Fit.Params params, Trainer trainer) {
            checkMonitor("EarlyStopping", monitor, params);
            reset();
        }

        @Override
        public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
            Double current = logs.get(monitor);
            if (current == null) {
                throw new IllegalArgumentException("EarlyStopping monitors '" + monitor + "', but the logs have "
                        + logs.keySet());
            }
            wait++;
            if (improves(resolved, current, minDelta, best)) {
                best = current;
                bestEpoch = epoch;
                wait = 0;
                if (restoreBestWeights) {
                    bestWeights = new java.util.ArrayList<>();
                    for (int layer = 0; layer < trainer.layerCount(); layer++) {
                        java.util.List<float[]> ws = new java.util.ArrayList<>();
                        for (String name : trainer.weightNames(layer)) {
                            ws.add(trainer.weight(layer, name));
                        }
                        bestWeights.add(ws);
                    }
                }
                return false;
            }
            if (wait >= patience && epoch > 0) {
                stoppedEpoch = epoch;
                if (restoreBestWeights && bestWeights != null) {
                    for (int layer = 0; layer < trainer.layerCount(); layer++) {
                        java.util.List<String> names = trainer.weightNames(layer);
                        for (int i = 0; i < names.size(); i++) {
                            trainer.setWeight(layer, names.get(i), bestWeights.get(layer).get(i));
                        }
                    }
                }
                return true;
            }
            return false;
        }

        /** The 0-based epoch after which training was stopped, or -1. */
        public int stoppedEpoch() {
            return stoppedEpoch;
        }

        /** The best monitored value seen in the last run (±infinity before any epoch). */
        public double best() {
            return best;
        }

        /** The 0-based epoch of {@link #best()}, or -1. */
        public int bestEpoch() {
            return bestEpoch;
        }
    }

    /**
     * Saves the trainer's model ({@code trainer.toModel(Backends.java()).save(file)}: safetensors,
     * written atomically) after every epoch, or with {@code saveBestOnly} only after epochs whose
     * {@code monitor} value improved on the best so far (a NaN value never does). A
     * {@code {epoch}} in the file name is replaced with the 1-based epoch number. Weights that are
     * not all finite are never saved: the checkpoint then throws an {@link IllegalStateException}
     * and the file keeps the last good model. A monitored key missing from the fit's logs is
     * refused when training begins.
     */
    final class ModelCheckpoint implements Callback {
        private final Path file;
        private final String monitor;
        private final boolean saveBestOnly;
        private final Mode mode;
        private Mode resolved;
        private double best;
        private int bestEpoch;
        private Path lastSaved;

        public ModelCheckpoint(Path file, String monitor, boolean saveBestOnly) {
            this(file, monitor, saveBestOnly, Mode.AUTO);
        }

        public ModelCheckpoint(Path file, String monitor, boolean saveBestOnly, Mode mode) {
            this.file = Objects.requireNonNull(file, "file");
            this.monitor = Objects.requireNonNull(monitor, "monitor");
            this.saveBestOnly = saveBestOnly;
            this.mode = Objects.requireNonNull(mode, "mode");
            reset();
        }

        private void reset() {
            resolved = mode.resolve(monitor);
            best = resolved == Mode.MAX ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            bestEpoch = -1;
            lastSaved = null;
        }

        @Override
        public void onTrainBegin(Fit.Params params, Trainer trainer) {
            if (saveBestOnly) {
                checkMonitor("ModelCheckpoint", monitor, params);
            }
            reset();
        }

        @Override
        public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
            if (saveBestOnly) {
                Double current = logs.get(monitor);
                if (current == null) {
                    throw new IllegalArgumentException("ModelCheckpoint monitors '" + monitor
                            + "', but the logs have " + logs.keySet());
                }
                if (!improves(resolved, current, 0, best)) {
                    return false;
                }
                best = current;
                bestEpoch = epoch;
            }
            Path target = Path.of(file.toString().replace("{epoch}", Integer.toString(epoch + 1)));
            try (Sequential model = trainer.toModel(Backends.java())) {
                for (int i = 0; i < model.layers().size(); i++) {
                    for (var e : model.layerWeights(i).entrySet()) {
                        Tensor w = e.getValue();
                        if (!w.allFinite()) {
                            throw new IllegalStateException("epoch " + (epoch + 1) + ": weight '" + e.getKey()
                                    + "' of layer " + i + " is not finite; not saved, "
                                    + (lastSaved == null ? "no checkpoint was written" : lastSaved
                                    + " keeps the last good model"));
                        }
                    }
                }
                model.save(target);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot save the checkpoint " + target, e);
            }
            lastSaved = target;
            return false;
        }

        /** The 0-based epoch of the best monitored value saved in the last run (-1 without saveBestOnly or before). */
        public int bestEpoch() {
            return bestEpoch;
        }

        /** The best monitored value of the last run (±infinity before any epoch or without saveBestOnly). */
        public double best() {
            return best;
        }

        /** The file last written, or null. */
        public Path lastSaved() {
            return lastSaved;
        }
    }

    /**
     * Prints one line per epoch: {@code Epoch 3/10 - 0.412s - loss: 0.0123 - val_loss: 0.0150}
     * (values as Keras prints them: 4 decimals, or 4 significant digits in scientific notation
     * below 0.001).
     */
    final class ProgressListener implements Callback {
        private final PrintStream out;
        private int epochs;
        private long started;

        public ProgressListener(PrintStream out) {
            this.out = Objects.requireNonNull(out, "out");
        }

        @Override
        public void onTrainBegin(Fit.Params params, Trainer trainer) {
            epochs = params.epochs();
        }

        @Override
        public void onEpochBegin(int epoch, Trainer trainer) {
            started = System.nanoTime();
        }

        @Override
        public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
            double seconds = (System.nanoTime() - started) / 1e9;
            StringBuilder line = new StringBuilder();
            line.append("Epoch ").append(epoch + 1).append('/').append(epochs)
                    .append(String.format(Locale.ROOT, " - %.3fs", seconds));
            logs.forEach((k, v) -> line.append(" - ").append(k).append(": ").append(format(v)));
            out.println(line);
            return false;
        }

        static String format(double v) {
            if (!Double.isFinite(v)) {
                return Double.toString(v);
            }
            return Math.abs(v) >= 1e-3 || v == 0
                    ? String.format(Locale.ROOT, "%.4f", v)
                    : String.format(Locale.ROOT, "%.4e", v);
        }
    }
}
