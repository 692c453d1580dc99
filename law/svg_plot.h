// A small SVG line/scatter plot writer: linear or log axes with ticks and labels, a title, and
// a legend, enough for the fit and optimal-sparsity figures a user opens in a browser.
// Not thread-safe; build one plot per thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace sparsescale::law {

struct SvgSeries {
  std::string name;    // legend text; empty keeps the series out of the legend
  std::string colour;  // any CSS colour
  std::vector<std::pair<double, double>> points;
  bool markers = true;
  bool line = false;
  bool dashed = false;
};

struct SvgAxis {
  std::string label;
  bool log = true;
};

class SvgPlot {
 public:
  SvgPlot(std::string title, SvgAxis x, SvgAxis y);

  void AddSeries(SvgSeries series);

  // The complete SVG document. Points that a log axis cannot show (<= 0, non-finite) are skipped.
  std::string Render() const;

  // Writes Render() to `path`; Internal error naming the path when it cannot be written.
  absl::Status WriteFile(const std::string& path) const;

 private:
  std::string title_;
  SvgAxis x_, y_;
  std::vector<SvgSeries> series_;
};

// Tick positions (data values) for an axis spanning [low, high]: decades on a log axis that
// spans more than a decade, otherwise round values 1, 2 or 5 x 10^k apart.
std::vector<double> AxisTicks(double low, double high, bool log);

// `text` with &, <, >, " escaped for XML.
std::string EscapeXml(const std::string& text);

// A fixed palette of distinguishable colours; index wraps around.
std::string PaletteColour(int index);

}  // namespace sparsescale::law
