package io.jlstm.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The protobuf wire format, just as much of it as ONNX needs: varints (wire type 0), 32-bit
 * floats (wire type 5) and length-delimited fields (wire type 2: strings, bytes, nested
 * messages). A nested message is written into its own writer first, because its length prefix
 * must precede it.
 *
 * <p>Repeated scalars are written unpacked (one tag per value), which is the proto2 default that
 * {@code onnx.proto} declares; every protobuf parser accepts it.
 *
 * <p>Owns a growable heap buffer; not thread-safe.
 */
final class ProtoWriter {
    private static final int VARINT = 0;
    private static final int LENGTH_DELIMITED = 2;
    private static final int FIXED32 = 5;

    private final Buffer out = new Buffer();

    /** An int32, int64, enum or bool field. Negative values take ten bytes, as protobuf requires. */
    ProtoWriter varint(int field, long value) {
        tag(field, VARINT);
        rawVarint(value);
        return this;
    }

    ProtoWriter float32(int field, float value) {
        tag(field, FIXED32);
        int bits = Float.floatToRawIntBits(value);
        for (int i = 0; i < 4; i++) {
            out.write(bits >>> (8 * i));
        }
        return this;
    }

    ProtoWriter bytes(int field, byte[] value) {
        tag(field, LENGTH_DELIMITED);
        rawVarint(value.length);
        out.writeBytes(value);
        return this;
    }

    ProtoWriter string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    ProtoWriter message(int field, ProtoWriter message) {
        tag(field, LENGTH_DELIMITED);
        rawVarint(message.out.size());
        message.out.appendTo(out);
        return this;
    }

    /** Appends the fields already encoded in {@code other}, as they are (no tag, no length). */
    ProtoWriter append(ProtoWriter other) {
        other.out.appendTo(out);
        return this;
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }

    private void tag(int field, int wireType) {
        rawVarint(((long) field << 3) | wireType);
    }

    private void rawVarint(long value) {
        while ((value & ~0x7FL) != 0) {
            out.write((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
    }

    /** A byte buffer that appends itself to another without an intermediate copy. */
    private static final class Buffer extends ByteArrayOutputStream {
        void appendTo(Buffer other) {
            other.write(buf, 0, count);
        }
    }
}
