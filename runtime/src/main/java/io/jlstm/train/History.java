package io.jlstm.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jlstm.io.AtomicFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * What {@link Fit#run} recorded: per epoch the training {@code loss}, each metric, and with
 * validation data {@code val_loss} and {@code val_NAME}; Keras' {@code History.history}. Values
 * are doubles; a value that was not finite stays NaN/infinite (JSON writes it as a string, e.g.
 * {@code "NaN"}). Filled by the fit, then read-only for its users; not thread-safe while filling.
 */
public final class History {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Fit.Params params;
    private final SequencedMap<String, List<Double>> series = new LinkedHashMap<>();

    History(Fit.Params params) {
        this.params = Objects.requireNonNull(params, "params");
        for (String key : params.logKeys()) {
            series.put(key, new ArrayList<>());
        }
    }

    void append(Map<String, Double> logs) {
        if (!logs.keySet().equals(series.keySet())) {
            throw new IllegalStateException("epoch logs have keys " + logs.keySet() + ", expected " + series.keySet());
        }
        for (var e : series.entrySet()) {
            e.getValue().add(logs.get(e.getKey()));
        }
    }

    /** What the run was asked to do (epochs asked for, not run: see {@link #epochs()}). */
    public Fit.Params params() {
        return params;
    }

    /** How many epochs ran (fewer than asked when a callback stopped training). */
    public int epochs() {
        return series.firstEntry().getValue().size();
    }

    /** The training loss of each epoch. */
    public List<Double> loss() {
        return get("loss");
    }

    /** The validation loss of each epoch; empty without validation data. */
    public List<Double> valLoss() {
        return series.containsKey("val_loss") ? get("val_loss") : List.of();
    }

    /** The series for a log key ({@code loss}, {@code mae}, {@code val_mae}, …). */
    public List<Double> get(String key) {
        List<Double> s = series.get(key);
        if (s == null) {
            throw new IllegalArgumentException("no '" + key + "' in this history (it has " + series.keySet() + ")");
        }
        return Collections.unmodifiableList(new ArrayList<>(s));
    }

    /** Every series by log key, in log order (a copy). */
    public SequencedMap<String, List<Double>> series() {
        SequencedMap<String, List<Double>> copy = new LinkedHashMap<>();
        series.forEach((k, v) -> copy.put(k, List.copyOf(v)));
        return Collections.unmodifiableSequencedMap(copy);
    }

    /** The logs of epoch {@code epoch} (0-based). */
    public Map<String, Double> epoch(int epoch) {
        Objects.checkIndex(epoch, epochs());
        Map<String, Double> logs = new LinkedHashMap<>();
        series.forEach((k, v) -> logs.put(k, v.get(epoch)));
        return Collections.unmodifiableMap(logs);
    }

    /**
     * {@code {"params": {...}, "epoch": [0, 1, …], "history": {"loss": [...], "val_loss": [...], …}}},
     * the layout of Keras' History object (params, epoch, history).
     */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode p = root.putObject("params");
        p.put("epochs", params.epochs());
        p.put("batch_size", params.batchSize());
        p.put("samples", params.trainingSamples());
        p.put("validation_samples", params.validationSamples());
        p.put("steps", params.batchesPerEpoch());
        p.put("shuffle", params.shuffle());
        p.put("seed", params.seed());
        ArrayNode ep = root.putArray("epoch");
        for (int i = 0; i < epochs(); i++) {
            ep.add(i);
        }
        ObjectNode h = root.putObject("history");
        series.forEach((k, v) -> {
            ArrayNode a = h.putArray(k);
            v.forEach(a::add);
        });
        try {
            return JSON.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the history as JSON", e);
        }
    }

    /** Writes {@link #toJson()} to {@code file} (UTF-8) atomically: a temporary file renamed into place. */
    public void writeJson(Path file) throws IOException {
        AtomicFile.write(Objects.requireNonNull(file, "file"), (toJson() + "\n").getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof History h && h.params.equals(params) && h.series.equals(series);
    }

    @Override
    public int hashCode() {
        return 31 * params.hashCode() + series.hashCode();
    }

    @Override
    public String toString() {
        return "History" + series;
    }
}
