package io.jlstm.ffi;

/** How the OpenBLAS library was found. */
public enum OpenBlasSource {
    /** The file named by the system property {@code jlstm.openblas.path}. */
    PROPERTY,
    /** The system library, opened by name ({@code libopenblas.so.0}, then {@code libopenblas.so}). */
    SYSTEM,
    /** The copy carried by the {@code org.bytedeco:openblas:…:linux-x86_64} jar, extracted to the cache folder. */
    BUNDLED
}
