package io.jlstm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MetricsTest {

    @Test
    void binaryAccuracyThresholdsAtOneHalf() {
        float[] pred = {0.7f, 0.2f, 0.5f, 0.51f};
        float[] target = {1, 0, 1, 0.9f};
        // 0.7 → 1 ✓, 0.2 → 0 ✓, 0.5 → 0 (not above the threshold) ✗, 0.51 → 1 vs round(0.9) = 1 ✓
        assertEquals(0.75, Metrics.accuracy(pred, target, 4, 1), 0);
    }

    @Test
    void categoricalAccuracyComparesArgmaxes() {
        float[] pred = {
            0.1f, 0.7f, 0.2f,
            0.5f, 0.3f, 0.2f,
            0.2f, 0.2f, 0.6f,
            0.4f, 0.4f, 0.2f};
        float[] target = {
            0, 1, 0,
            0, 0, 1,
            0.1f, 0.2f, 0.7f,
            0, 1, 0};
        // ✓, ✗, ✓ (soft target), ✗ (a tie takes the first maximum, class 0)
        assertEquals(0.5, Metrics.accuracy(pred, target, 4, 3), 0);
    }

    @Test
    void sparseCategoricalAccuracyComparesWithLabels() {
        float[] pred = {
            0.1f, 0.7f, 0.2f,
            0.5f, 0.3f, 0.2f,
            0.2f, 0.2f, 0.6f};
        assertEquals(2.0 / 3, Metrics.sparseCategoricalAccuracy(pred, new float[] {1, 2, 2}, 3, 3), 1e-15);
        assertEquals(1.0, Metrics.sparseCategoricalAccuracy(pred, new float[] {1, 0, 2}, 3, 3), 0);
        assertEquals(0.0, Metrics.sparseCategoricalAccuracy(pred, new float[] {0, 1, 1}, 3, 3), 0);
    }

    @Test
    void meanAbsoluteError() {
        assertEquals(0.75, Metrics.meanAbsoluteError(new float[] {1, 2, 3, 4}, new float[] {0, 2, 5, 4}), 1e-15);
        assertThrows(IllegalArgumentException.class,
                () -> Metrics.meanAbsoluteError(new float[] {1, 2}, new float[] {1}));
    }

    @Test
    void byNameResolvesKerasNames() {
        float[] pred = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f};
        float[] oneHot = {0, 1, 0, 0, 0, 1};
        Metrics.Metric acc = Metrics.byName("accuracy");
        assertEquals("accuracy", acc.name());
        assertEquals(3, acc.targetValuesPerRow(3));
        assertEquals(0.5, acc.compute(pred, oneHot, 2, 3), 0);
        assertEquals("acc", Metrics.byName("acc").name());

        Metrics.Metric sparse = Metrics.byName("sparse_categorical_accuracy");
        assertEquals("sparse_categorical_accuracy", sparse.name());
        assertEquals(1, sparse.targetValuesPerRow(3));
        assertEquals(1.0, sparse.compute(pred, new float[] {1, 0}, 2, 3), 0);

        for (String name : new String[] {"mae", "mean_absolute_error"}) {
            Metrics.Metric mae = Metrics.byName(name);
            assertEquals(name, mae.name());
            assertEquals(0.75, mae.compute(new float[] {1, 2, 3, 4}, new float[] {0, 2, 5, 4}, 2, 2), 1e-15);
        }

        var e = assertThrows(IllegalArgumentException.class, () -> Metrics.byName("precision"));
        assertTrue(e.getMessage().contains("precision"), e.getMessage());
        for (String name : new String[] {"accuracy", "sparse_categorical_accuracy", "mae", "mean_absolute_error"}) {
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        assertThrows(IllegalArgumentException.class,
                () -> Metrics.accuracy(new float[6], new float[5], 2, 3));
        assertThrows(IllegalArgumentException.class,
                () -> Metrics.sparseCategoricalAccuracy(new float[6], new float[6], 2, 3));
        assertThrows(IllegalArgumentException.class,
                () -> Metrics.accuracy(new float[0], new float[0], 0, 3));
        assertThrows(IllegalArgumentException.class,
                () -> Metrics.byName("mae").compute(new float[6], new float[6], 3, 3));
    }
}
