package io.jlstm.layers;

final class Specs {
    private Specs() {
    }

    static void requireUnits(String type, int units) {
        if (units <= 0) {
            throw new IllegalArgumentException(type + " units must be positive, got " + units);
        }
    }

    static String requireName(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a layer name must not be empty");
        }
        return name;
    }
}
