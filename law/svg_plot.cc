#include "law/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

#include "absl/strings/str_format.h"

namespace sparsescale::law {
namespace {

constexpr double kWidth = 780, kHeight = 500;
constexpr double kLeft = 86, kTop = 48, kRight = 590, kBottom = 436;  // plot area

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
};

bool Showable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

double Transform(double v, bool log) { return log ? std::log10(v) : v; }

// Pads a range by 4% each side, and widens an empty one.
Range Padded(Range r) {
  if (!(r.high > r.low)) {
    const double centre = std::isfinite(r.low) ? r.low : 0.0;
    return {centre - 0.5, centre + 0.5};
  }
  const double pad = 0.04 * (r.high - r.low);
  return {r.low - pad, r.high + pad};
}

std::vector<double> LinearTicks(double low, double high) {
  const double raw = (high - low) / 5.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double factor : {1.0, 2.0, 5.0}) {
    if (factor * magnitude >= raw) {
      step = factor * magnitude;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step) * step; t <= high + 1e-9 * step; t += step) {
    ticks.push_back(std::fabs(t) < 1e-12 * step ? 0.0 : t);
  }
  return ticks;
}

// A tick label; powers of ten on log axes are written 10 with a superscript exponent.
std::string TickLabel(double value, bool log) {
  const double exponent = std::log10(value);
  if (log && std::fabs(exponent - std::round(exponent)) < 1e-9 && std::fabs(exponent) >= 3) {
    return absl::StrFormat("10<tspan dy=\"-6\" font-size=\"9\">%d</tspan>",
                           static_cast<int>(std::round(exponent)));
  }
  return EscapeXml(absl::StrFormat("%g", value));
}

std::string Marker(double x, double y, const std::string& colour) {
  return absl::StrFormat(
      "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\" fill-opacity=\"0.85\" "
      "stroke=\"#222\" stroke-width=\"0.5\"/>\n",
      x, y, colour);
}

std::string LineStyle(const SvgSeries& s) {
  return absl::StrFormat("fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s", s.colour,
                         s.dashed ? " stroke-dasharray=\"6,4\"" : "");
}

// Data ranges of a plot (in log10 units on log axes) and the mapping to pixels.
struct Frame {
  Range x, y;
  bool x_log = true, y_log = true;
  double Px(double v) const {
    return kLeft + (Transform(v, x_log) - x.low) / (x.high - x.low) * (kRight - kLeft);
  }
  double Py(double v) const {
    return kBottom - (Transform(v, y_log) - y.low) / (y.high - y.low) * (kBottom - kTop);
  }
  bool Shows(double vx, double vy) const { return Showable(vx, x_log) && Showable(vy, y_log); }
};

Frame FrameFor(const std::vector<SvgSeries>& series, bool x_log, bool y_log) {
  Frame frame;
  frame.x_log = x_log;
  frame.y_log = y_log;
  for (const SvgSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      if (frame.Shows(x, y)) {
        const double tx = Transform(x, x_log), ty = Transform(y, y_log);
        frame.x = {std::min(frame.x.low, tx), std::max(frame.x.high, tx)};
        frame.y = {std::min(frame.y.low, ty), std::max(frame.y.high, ty)};
      }
    }
  }
  frame.x = Padded(frame.x);
  frame.y = Padded(frame.y);
  return frame;
}

double Untransform(double t, bool log) { return log ? std::pow(10.0, t) : t; }

// Grid lines, ticks and tick labels, the frame, and the axis labels.
std::string AxesSvg(const Frame& frame, const SvgAxis& x_axis, const SvgAxis& y_axis) {
  std::string svg;
  for (double t : AxisTicks(Untransform(frame.x.low, frame.x_log),
                            Untransform(frame.x.high, frame.x_log), frame.x_log)) {
    const double x = frame.Px(t);
    svg += absl::StrFormat(
        "<line x1=\"%.2f\" y1=\"%g\" x2=\"%.2f\" y2=\"%g\" stroke=\"#ddd\"/>\n"
        "<line x1=\"%.2f\" y1=\"%g\" x2=\"%.2f\" y2=\"%g\" stroke=\"#000\"/>\n"
        "<text x=\"%.2f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
        x, kTop, x, kBottom, x, kBottom, x, kBottom + 5, x, kBottom + 20,
        TickLabel(t, frame.x_log));
  }
  for (double t : AxisTicks(Untransform(frame.y.low, frame.y_log),
                            Untransform(frame.y.high, frame.y_log), frame.y_log)) {
    const double y = frame.Py(t);
    svg += absl::StrFormat(
        "<line x1=\"%g\" y1=\"%.2f\" x2=\"%g\" y2=\"%.2f\" stroke=\"#ddd\"/>\n"
        "<line x1=\"%g\" y1=\"%.2f\" x2=\"%g\" y2=\"%.2f\" stroke=\"#000\"/>\n"
        "<text x=\"%g\" y=\"%.2f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
        kLeft, y, kRight, y, kLeft - 5, y, kLeft, y, kLeft - 8, y, TickLabel(t, frame.y_log));
  }
  svg += absl::StrFormat(
      "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#000\"/>\n", kLeft,
      kTop, kRight - kLeft, kBottom - kTop);
  svg += absl::StrFormat("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
                         (kLeft + kRight) / 2, kHeight - 22, EscapeXml(x_axis.label));
  svg += absl::StrFormat(
      "<text x=\"22\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 22 %g)\">%s</text>\n",
      (kTop + kBottom) / 2, (kTop + kBottom) / 2, EscapeXml(y_axis.label));
  return svg;
}

// Lines and markers of every series, clipped to the plot area.
std::string SeriesSvg(const Frame& frame, const std::vector<SvgSeries>& series) {
  std::string svg = absl::StrFormat(
      "<clipPath id=\"area\"><rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\"/></clipPath>\n"
      "<g clip-path=\"url(#area)\">\n",
      kLeft, kTop, kRight - kLeft, kBottom - kTop);
  for (const SvgSeries& s : series) {
    std::string path;
    for (const auto& [x, y] : s.points) {
      if (frame.Shows(x, y)) {
        path += absl::StrFormat("%s%.2f,%.2f", path.empty() ? "M" : " L", frame.Px(x), frame.Py(y));
      }
    }
    if (s.line && !path.empty()) {
      svg += absl::StrFormat("<path d=\"%s\" %s/>\n", path, LineStyle(s));
    }
    for (const auto& [x, y] : s.points) {
      if (s.markers && frame.Shows(x, y)) {
        svg += Marker(frame.Px(x), frame.Py(y), s.colour);
      }
    }
  }
  return svg + "</g>\n";
}

// The legend, to the right of the plot area; series without a name are left out.
std::string LegendSvg(const std::vector<SvgSeries>& series) {
  std::string svg;
  const double lx = kRight + 16;
  double ly = kTop + 8;
  for (const SvgSeries& s : series) {
    if (s.name.empty()) {
      continue;
    }
    if (s.line) {
      svg += absl::StrFormat("<path d=\"M%g,%g L%g,%g\" %s/>\n", lx, ly, lx + 24, ly, LineStyle(s));
    }
    if (s.markers) {
      svg += Marker(lx + 12, ly, s.colour);
    }
    svg += absl::StrFormat("<text x=\"%g\" y=\"%g\" dominant-baseline=\"middle\">%s</text>\n",
                           lx + 32, ly, EscapeXml(s.name));
    ly += 20;
  }
  return svg;
}

}  // namespace

std::vector<double> AxisTicks(double low, double high, bool log) {
  if (!log) {
    return LinearTicks(low, high);
  }
  const double lo = std::log10(low), hi = std::log10(high);
  if (hi - lo < 1.0) {
    return LinearTicks(low, high);
  }
  const int first = static_cast<int>(std::ceil(lo - 1e-9));
  const int last = static_cast<int>(std::floor(hi + 1e-9));
  const int stride = std::max(1, (last - first + 8) / 8);
  std::vector<double> ticks;
  for (int k = first; k <= last; k += stride) {
    ticks.push_back(std::pow(10.0, k));
  }
  if (ticks.size() < 3) {  // one to two decades: add 2x and 5x ticks
    std::vector<double> more;
    for (int k = first - 1; k <= last; ++k) {
      for (double f : {1.0, 2.0, 5.0}) {
        const double v = f * std::pow(10.0, k);
        if (std::log10(v) >= lo - 1e-9 && std::log10(v) <= hi + 1e-9) {
          more.push_back(v);
        }
      }
    }
    return more;
  }
  return ticks;
}

std::string EscapeXml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string PaletteColour(int index) {
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return kColours[index % 10];
}

SvgPlot::SvgPlot(std::string title, SvgAxis x, SvgAxis y)
    : title_(std::move(title)), x_(std::move(x)), y_(std::move(y)) {}

void SvgPlot::AddSeries(SvgSeries series) { series_.push_back(std::move(series)); }

std::string SvgPlot::Render() const {
  const Frame frame = FrameFor(series_, x_.log, y_.log);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g "
      "%g\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight, kWidth, kHeight);
  svg += absl::StrFormat(
      "<text x=\"%g\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
      "font-weight=\"bold\">%s</text>\n",
      (kLeft + kRight) / 2, EscapeXml(title_));
  svg += AxesSvg(frame, x_, y_);
  svg += SeriesSvg(frame, series_);
  svg += LegendSvg(series_);
  svg += "</svg>\n";
  return svg;
}

absl::Status SvgPlot::WriteFile(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << Render();
  out.close();
  if (!out) {
    return absl::InternalError(absl::StrFormat("cannot write plot file '%s'", path));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::law
