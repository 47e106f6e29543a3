package io.jlstm.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Draws training and validation loss per epoch as a PNG with java.awt, headless. Stateless. */
final class LossCurve {

    private static final int WIDTH = 800;
    private static final int HEIGHT = 500;
    private static final int LEFT = 90;
    private static final int RIGHT = 30;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;
    private static final Color TRAIN = new Color(31, 119, 180);
    private static final Color VAL = new Color(255, 127, 14);

    private LossCurve() {
    }

    /** Writes the curve of {@code loss} and, when not empty, {@code valLoss} to {@code file}. */
    static void write(Path file, String title, List<Double> loss, List<Double> valLoss) throws IOException {
        write(file, title, "MSE", loss, valLoss);
    }

    /** The loss curve with the y axis labelled {@code lossName}. */
    static void write(Path file, String title, String lossName, List<Double> loss, List<Double> valLoss)
            throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            draw(g, title, lossName, loss, valLoss);
        } finally {
            g.dispose();
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        if (!ImageIO.write(img, "png", tmp.toFile())) {
            throw new IOException("no PNG writer in this JDK");
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static void draw(Graphics2D g, String title, String lossName, List<Double> loss, List<Double> valLoss) {
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);

        int epochs = Math.max(loss.size(), valLoss.size());
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (List<Double> s : List.of(loss, valLoss)) {
            for (double v : s) {
                if (Double.isFinite(v)) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (!(lo <= hi)) {
            lo = 0;
            hi = 1;
        }
        // A log axis when the loss spans more than a decade and stays positive, as loss curves usually do.
        boolean log = lo > 0 && hi / lo > 10;
        double yLo = log ? Math.log10(lo) : Math.min(0, lo);
        double yHi = log ? Math.log10(hi) : hi;
        if (yHi - yLo < 1e-12) {
            yHi = yLo + 1;
        }
        double pad = (yHi - yLo) * 0.05;
        yLo -= log ? pad : (yLo == 0 ? 0 : pad);
        yHi += pad;
        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = HEIGHT - TOP - BOTTOM;

        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        FontMetrics fm = g.getFontMetrics();
        g.setColor(Color.BLACK);
        g.drawString(title, (WIDTH - fm.stringWidth(title)) / 2, TOP - 18);

        // grid and y ticks
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        fm = g.getFontMetrics();
        for (int i = 0; i <= 5; i++) {
            double v = yLo + (yHi - yLo) * i / 5;
            int y = TOP + plotH - (int) Math.round(plotH * (double) i / 5);
            g.setColor(new Color(225, 225, 225));
            g.drawLine(LEFT, y, LEFT + plotW, y);
            g.setColor(Color.BLACK);
            g.drawLine(LEFT - 5, y, LEFT, y);
            String label = tick(log ? Math.pow(10, v) : v);
            g.drawString(label, LEFT - 8 - fm.stringWidth(label), y + fm.getAscent() / 2 - 1);
        }
        // x ticks: epochs 1..n, at most ~10 labels
        int step = Math.max(1, (int) Math.ceil(epochs / 10.0));
        for (int e = 1; e <= Math.max(1, epochs); e += step) {
            int x = xOf(e, epochs, plotW);
            g.setColor(Color.BLACK);
            g.drawLine(x, TOP + plotH, x, TOP + plotH + 5);
            String label = Integer.toString(e);
            g.drawString(label, x - fm.stringWidth(label) / 2, TOP + plotH + 8 + fm.getAscent());
        }
        // axes
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1.5f));
        g.drawLine(LEFT, TOP, LEFT, TOP + plotH);
        g.drawLine(LEFT, TOP + plotH, LEFT + plotW, TOP + plotH);
        // axis labels
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        fm = g.getFontMetrics();
        String xl = "epoch";
        g.drawString(xl, LEFT + (plotW - fm.stringWidth(xl)) / 2, HEIGHT - 15);
        String yl = log ? "loss (" + lossName + ", log scale)" : "loss (" + lossName + ")";
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yl, -(TOP + (plotH + fm.stringWidth(yl)) / 2), 22);
        g.setTransform(saved);

        series(g, loss, epochs, plotW, plotH, yLo, yHi, log, TRAIN);
        series(g, valLoss, epochs, plotW, plotH, yLo, yHi, log, VAL);

        // legend
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        fm = g.getFontMetrics();
        int lx = LEFT + plotW - 170;
        int ly = TOP + 20;
        legend(g, lx, ly, TRAIN, "training loss");
        if (!valLoss.isEmpty()) {
            legend(g, lx, ly + 20, VAL, "validation loss");
        }
    }

    private static void legend(Graphics2D g, int x, int y, Color c, String text) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2.5f));
        g.drawLine(x, y - 4, x + 30, y - 4);
        g.setColor(Color.BLACK);
        g.drawString(text, x + 38, y);
    }

    private static void series(Graphics2D g, List<Double> s, int epochs, int plotW, int plotH, double yLo,
                               double yHi, boolean log, Color c) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2.5f));
        int px = -1;
        int py = -1;
        for (int i = 0; i < s.size(); i++) {
            double v = s.get(i);
            if (!Double.isFinite(v) || (log && v <= 0)) {
                px = -1;
                continue;
            }
            double t = ((log ? Math.log10(v) : v) - yLo) / (yHi - yLo);
            int x = xOf(i + 1, epochs, plotW);
            int y = TOP + plotH - (int) Math.round(t * plotH);
            if (px >= 0) {
                g.drawLine(px, py, x, y);
            }
            g.fillOval(x - 3, y - 3, 7, 7);
            px = x;
            py = y;
        }
    }

    private static int xOf(int epoch, int epochs, int plotW) {
        if (epochs <= 1) {
            return LEFT + plotW / 2;
        }
        return LEFT + (int) Math.round((double) (epoch - 1) / (epochs - 1) * plotW);
    }

    private static String tick(double v) {
        double a = Math.abs(v);
        if (v == 0) {
            return "0";
        }
        return a >= 1e-3 && a < 1e4 ? String.format(Locale.ROOT, "%.4g", v) : String.format(Locale.ROOT, "%.2e", v);
    }
}
