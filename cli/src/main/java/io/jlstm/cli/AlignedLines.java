package io.jlstm.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** "key: value" lines whose values start in one column. Collects, then prints; not thread-safe. */
final class AlignedLines {

    private final List<String[]> lines = new ArrayList<>();

    AlignedLines add(String key, Object value) {
        lines.add(new String[] {key, String.valueOf(value)});
        return this;
    }

    void print(PrintWriter out) {
        int width = 0;
        for (String[] l : lines) {
            width = Math.max(width, l[0].length());
        }
        for (String[] l : lines) {
            out.println(l[0] + ":" + " ".repeat(width - l[0].length() + 1) + l[1]);
        }
    }
}
