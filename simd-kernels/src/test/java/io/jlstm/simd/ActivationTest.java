package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ActivationTest {

    @ParameterizedTest
    @EnumSource(Activation.class)
    void kerasNameRoundTrips(Activation a) {
        assertEquals(a, Activation.fromKerasName(a.kerasName()));
    }

    @Test
    void kerasNames() {
        assertEquals("linear", Activation.LINEAR.kerasName());
        assertEquals("relu", Activation.RELU.kerasName());
        assertEquals("sigmoid", Activation.SIGMOID.kerasName());
        assertEquals("hard_sigmoid", Activation.HARD_SIGMOID.kerasName());
        assertEquals("tanh", Activation.TANH.kerasName());
    }

    @Test
    void unknownNamesAreRejectedWithTheAcceptedOnes() {
        for (String bad : new String[] {null, "", "Tanh", "softmax", " relu"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Activation.fromKerasName(bad));
            assertTrue(e.getMessage().contains(bad == null ? "null" : '"' + bad + '"'), e.getMessage());
            assertTrue(e.getMessage().contains("\"hard_sigmoid\""), e.getMessage());
        }
    }

    @Test
    void exactDefinitions() {
        assertEquals(Math.tanh(0.3), Activation.TANH.applyExact(0.3));
        assertEquals(1 / (1 + Math.exp(-0.3)), Activation.SIGMOID.applyExact(0.3));
        assertEquals(0.5, Activation.HARD_SIGMOID.applyExact(0));
        assertEquals(0.0, Activation.HARD_SIGMOID.applyExact(-3));
        assertEquals(1.0, Activation.HARD_SIGMOID.applyExact(3));
        assertEquals(0.75, Activation.HARD_SIGMOID.applyExact(1.5)); // Keras 3: x/6+0.5, not Keras 2's 0.2x+0.5
        assertEquals(0.0, Activation.RELU.applyExact(-2));
        assertEquals(2.5, Activation.RELU.applyExact(2.5));
        assertEquals(-7.0, Activation.LINEAR.applyExact(-7));
        for (Activation a : Activation.values()) {
            assertTrue(Double.isNaN(a.applyExact(Double.NaN)), a.kerasName());
        }
    }
}
