package io.jlstm.cli;

import io.jlstm.backend.Backends;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** The {@code --backend} option: {@code auto}, {@code java} or {@code openblas}. Stateless. */
final class BackendChoice {

    static final List<String> NAMES = List.of("auto", "java", "openblas");

    private BackendChoice() {
    }

    /** Checks the name while the command line is parsed, so a typo is a usage error. */
    static final class Converter implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            String v = value.trim().toLowerCase(Locale.ROOT);
            if (!NAMES.contains(v)) {
                throw new TypeConversionException("unknown backend '" + value + "' (expected auto, java or openblas)");
            }
            return v;
        }
    }

    /**
     * The backend named by the option, or, when it was not given, the one the property
     * {@code jlstm.backend} or {@code auto} picks. A forced backend that cannot be used here is
     * the user's mistake: the message says why it is unavailable.
     */
    static Backends.Selection select(String name) {
        try {
            return name == null ? Backends.select() : Backends.byName(name);
        } catch (IllegalStateException e) {
            throw new UserError(e.getMessage(), e);
        }
    }
}
