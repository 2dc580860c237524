//! Server-rendered SVG charts for the web UI: line, stacked bar (parts above and below zero)
//! and horizontal bar.
//!
//! Each chart is a plain builder; `to_svg` returns a self-contained `<svg>` element to embed
//! inline in HTML (no JavaScript). The SVG scales to its container (`width="100%"` with a
//! `viewBox`), inherits the page's font and text colour, and is accessible: `role="img"`
//! (`role="figure"` when its bars are links to what they count), a `<title>` and a
//! `<desc>`, and a `<title>` on every bar and point so hovering shows the figure. A line
//! chart may fix its y range, shade bands and draw a reference line; one value alone is a
//! labelled point. All user text is XML-escaped. Missing, NaN and infinite values are gaps; a chart
//! without any value shows "No data". The same input always gives the same string.
//!
//! ```
//! use laer_charts::{Color, LineChart, Series, StackedBarChart, ValueFormat};
//!
//! let months = ["2025-01", "2025-02", "2025-03"];
//! let mrr = LineChart::new(months, ValueFormat::Money)
//!     .series(Series::new("MRR", [10_200.0, 11_050.0, 12_300.0]))
//!     .area(true)
//!     .to_svg();
//! assert!(mrr.starts_with("<svg"));
//!
//! let movements = StackedBarChart::new(months, ValueFormat::Money)
//!     .component(Series::new("New", [1_200.0, 900.0, 1_500.0]).color(Color::BLUISH_GREEN))
//!     .component(Series::new("Churn", [Some(-400.0), None, Some(-250.0)]).color(Color::VERMILLION))
//!     .net("Net")
//!     .to_svg();
//! assert!(movements.contains("Churn"));
//! ```

use std::fmt::Write as _;

const DEFAULT_WIDTH: u32 = 720;
const DEFAULT_HEIGHT: u32 = 280;
/// Advance of a typical lowercase letter at 12px, rounded up.
const CHAR_WIDTH: f64 = 7.4;
const LINE_HEIGHT: f64 = 18.0;
const TITLE_HEIGHT: f64 = 22.0;
/// Category labels longer than this are cut with an ellipsis (the full text stays in tooltips).
const MAX_LABEL_CHARS: usize = 16;
/// Figures beyond this are clamped so that spans and scales stay finite.
const LARGEST_VALUE: f64 = 1e15;
const HORIZONTAL_ROW_HEIGHT: f64 = 26.0;

/// How values are written on axes, tooltips and value labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// Currency units: "$950", "$12.3k", "$1.2M", "-$4k"; exact amounts below $1k keep cents.
    Money,
    /// A ratio shown as a percentage: 0.95 → "95%".
    Percent,
    /// A plain quantity: "950", "1.2k", "3.4M".
    Count,
}

impl ValueFormat {
    /// The value as a short human-readable string, e.g. for a tooltip or a table cell.
    pub fn format(self, value: f64) -> String {
        self.format_with_step(value, None)
    }

    /// As `format`, with enough decimals that neighbouring axis ticks `step` apart differ.
    fn format_with_step(self, value: f64, step: Option<f64>) -> String {
        if !value.is_finite() {
            return "n/a".to_string();
        }
        match self {
            ValueFormat::Percent => {
                let decimals = step.map_or(1, |step| decimals_for_step(step * 100.0));
                signed_text(value * 100.0, decimals, "", "%")
            }
            ValueFormat::Money => compact(value, "$", step, true),
            ValueFormat::Count => compact(value, "", step, false),
        }
    }
}

/// Writes `value` in the smallest of units, k, M, B in which it stays below 1000 once
/// rounded, e.g. 12_345 → "12.3k", 999_960 → "1M" (not "1000k").
fn compact(value: f64, prefix: &str, step: Option<f64>, keep_cents: bool) -> String {
    let magnitude = value.abs();
    if step.is_none() && keep_cents && magnitude < 999.995 && round_to(magnitude, 2) != round_to(magnitude, 0) {
        // Cents stay visible: "$49.50", not "$49.5".
        return signed_fixed(value, 2, prefix);
    }
    let plain_decimals = step.map_or(2, decimals_for_step);
    let scaled_decimals = |unit: f64| step.map_or(1, |step| decimals_for_step(step / unit).max(1));
    let units = [
        (1.0, "", plain_decimals),
        (1e3, "k", scaled_decimals(1e3)),
        (1e6, "M", scaled_decimals(1e6)),
        (1e9, "B", scaled_decimals(1e9)),
    ];
    let (unit, suffix, decimals) = units
        .into_iter()
        .find(|&(unit, _, decimals)| round_to(magnitude / unit, decimals) < 1000.0)
        .unwrap_or(units[3]);
    signed_text(value / unit, decimals, prefix, suffix)
}

/// `prefix` and `suffix` around the value rounded to `decimals`, trailing zeros dropped, and
/// a minus sign only when something non-zero is left after rounding.
fn signed_text(value: f64, decimals: usize, prefix: &str, suffix: &str) -> String {
    let digits = trim_zeros(format!("{:.*}", decimals, value.abs()));
    let sign = if value < 0.0 && round_to(value.abs(), decimals) > 0.0 {
        "-"
    } else {
        ""
    };
    format!("{sign}{prefix}{digits}{suffix}")
}

fn signed_fixed(value: f64, decimals: usize, prefix: &str) -> String {
    let sign = if value < 0.0 && round_to(value.abs(), decimals) > 0.0 {
        "-"
    } else {
        ""
    };
    format!("{sign}{prefix}{:.*}", decimals, value.abs())
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn round_to(value: f64, decimals: usize) -> f64 {
    let factor = 10f64.powi(decimals as i32);
    (value * factor).round() / factor
}

/// Decimals needed to tell apart two numbers `step` apart: 0.2 → 1, 0.05 → 2, 5 → 0.
fn decimals_for_step(step: f64) -> usize {
    if step.is_nan() || step <= 0.0 || step >= 1.0 {
        return 0;
    }
    ((-step.log10()) - 1e-9).ceil().clamp(0.0, 6.0) as usize
}

/// An sRGB colour. The named constants are the Okabe–Ito palette, distinguishable with the
/// common forms of colour blindness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color {
    red: u8,
    green: u8,
    blue: u8,
}

impl Color {
    pub const BLUE: Color = Color::rgb(0x00, 0x72, 0xB2);
    pub const ORANGE: Color = Color::rgb(0xE6, 0x9F, 0x00);
    pub const BLUISH_GREEN: Color = Color::rgb(0x00, 0x9E, 0x73);
    pub const VERMILLION: Color = Color::rgb(0xD5, 0x5E, 0x00);
    pub const REDDISH_PURPLE: Color = Color::rgb(0xCC, 0x79, 0xA7);
    pub const SKY_BLUE: Color = Color::rgb(0x56, 0xB4, 0xE9);
    pub const YELLOW: Color = Color::rgb(0xF0, 0xE4, 0x42);
    pub const GREY: Color = Color::rgb(0x99, 0x99, 0x99);

    /// Series without a pinned colour take these in order: the n-th series of every chart
    /// gets the same colour. Yellow comes late because it is faint on white.
    pub const PALETTE: [Color; 8] = [
        Color::BLUE,
        Color::ORANGE,
        Color::BLUISH_GREEN,
        Color::VERMILLION,
        Color::REDDISH_PURPLE,
        Color::SKY_BLUE,
        Color::YELLOW,
        Color::GREY,
    ];

    pub const fn rgb(red: u8, green: u8, blue: u8) -> Color {
        Color { red, green, blue }
    }

    fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.red, self.green, self.blue)
    }
}

fn palette_color(index: usize) -> Color {
    Color::PALETTE[index % Color::PALETTE.len()]
}

/// A named sequence of values, one per x label; `None` is a gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    name: String,
    values: Vec<Option<f64>>,
    color: Option<Color>,
    links: Vec<Option<String>>,
}

impl Series {
    /// Values may be `f64` or `Option<f64>`. Values beyond the chart's labels are ignored and
    /// missing ones are gaps.
    pub fn new<V: Into<Option<f64>>>(name: impl Into<String>, values: impl IntoIterator<Item = V>) -> Series {
        Series {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
            color: None,
            links: Vec::new(),
        }
    }

    /// Where each value leads, one per x label (`None`: nowhere): a bar becomes a link to
    /// what it counts, e.g. the accounts behind a month's churn.
    pub fn links<L: Into<Option<String>>>(mut self, links: impl IntoIterator<Item = L>) -> Series {
        self.links = links.into_iter().map(Into::into).collect();
        self
    }

    /// Pins the series' colour, e.g. churn vermillion in every chart that shows it.
    pub fn color(mut self, color: Color) -> Series {
        self.color = Some(color);
        self
    }
}

/// What every chart has besides its data.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    title: Option<String>,
    description: Option<String>,
    width: u32,
    height: Option<u32>,
    format: ValueFormat,
}

impl Frame {
    fn new(format: ValueFormat) -> Frame {
        Frame {
            title: None,
            description: None,
            width: DEFAULT_WIDTH,
            height: None,
            format,
        }
    }

    fn width(&self) -> f64 {
        f64::from(self.width.max(120))
    }

    fn height_or(&self, automatic: f64) -> f64 {
        self.height.map_or(automatic, |height| f64::from(height.max(80)))
    }

    /// Space above the plot for the visible title, if any.
    fn title_height(&self) -> f64 {
        if self.title.is_some() { TITLE_HEIGHT } else { 0.0 }
    }
}

/// Generates the builder methods shared by every chart.
macro_rules! frame_methods {
    () => {
        /// A visible title above the chart (the page usually has its own heading instead).
        /// It also becomes the SVG's accessible name.
        pub fn title(mut self, title: impl Into<String>) -> Self {
            self.frame.title = Some(title.into());
            self
        }

        /// Replaces the generated text description read by screen readers.
        pub fn description(mut self, description: impl Into<String>) -> Self {
            self.frame.description = Some(description.into());
            self
        }

        /// The `viewBox` size in pixels; the SVG itself always scales to its container's width.
        pub fn size(mut self, width: u32, height: u32) -> Self {
            self.frame.width = width;
            self.frame.height = Some(height);
            self
        }
    };
}

/// One or more series over ordered x labels (months, weeks, days), drawn as lines with a
/// marker per value; `None` breaks the line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    frame: Frame,
    labels: Vec<String>,
    series: Vec<Series>,
    area: bool,
    include_zero: bool,
    range: Option<(f64, f64)>,
    bands: Vec<Band>,
    reference: Option<(f64, String)>,
}

/// A horizontal band of the y axis shaded behind the lines, with its name at the right:
/// the health score's colour bands.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub color: Color,
    pub name: String,
}

impl LineChart {
    pub fn new<L: Into<String>>(labels: impl IntoIterator<Item = L>, format: ValueFormat) -> LineChart {
        LineChart {
            frame: Frame::new(format),
            labels: labels.into_iter().map(Into::into).collect(),
            series: Vec::new(),
            area: false,
            include_zero: true,
            range: None,
            bands: Vec::new(),
            reference: None,
        }
    }

    /// Fixes the y axis to `low..=high` whatever the values (a score from 0 to 100), so
    /// that charts of the same measure compare at a glance; values outside are clamped to
    /// the edge.
    pub fn range(mut self, low: f64, high: f64) -> LineChart {
        self.range = Some((low.min(high), low.max(high)));
        self
    }

    /// Shades a band of the y axis behind the lines.
    pub fn band(mut self, band: Band) -> LineChart {
        self.bands.push(band);
        self
    }

    /// A dashed horizontal line at `value` with its name, e.g. NRR's 100% target.
    pub fn reference(mut self, value: f64, name: impl Into<String>) -> LineChart {
        self.reference = Some((value, name.into()));
        self
    }

    /// Adds a line; the n-th series takes the n-th palette colour unless it pins one.
    pub fn series(mut self, series: Series) -> LineChart {
        self.series.push(series);
        self
    }

    /// Fills the area under each line; reads best with a single series.
    pub fn area(mut self, area: bool) -> LineChart {
        self.area = area;
        self
    }

    /// Whether the y axis reaches zero (the default). Turn off to zoom in on, say, NRR that
    /// moves between 95% and 110%.
    pub fn include_zero(mut self, include_zero: bool) -> LineChart {
        self.include_zero = include_zero;
        self
    }

    frame_methods!();

    /// The chart as an `<svg>` element to embed inline in HTML.
    pub fn to_svg(&self) -> String {
        let frame = &self.frame;
        let count = self.labels.len();
        let values: Vec<Vec<Option<f64>>> = self.series.iter().map(|s| aligned(&s.values, count)).collect();
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let name = frame
            .title
            .clone()
            .unwrap_or_else(|| default_name(&names, "Line chart"));
        let Some((mut low, mut high)) = min_max(values.iter().flatten().flatten().copied()) else {
            return no_data(frame, &name);
        };
        if self.include_zero {
            low = low.min(0.0);
            high = high.max(0.0);
        }
        if let Some((value, _)) = &self.reference {
            low = low.min(*value);
            high = high.max(*value);
        }
        if let Some((l, h)) = self.range {
            (low, high) = (l, h);
        }
        let clamp = |v: f64| match self.range {
            Some((l, h)) => v.clamp(l, h),
            None => v,
        };
        let values: Vec<Vec<Option<f64>>> = values
            .into_iter()
            .map(|vs| vs.into_iter().map(|v| v.map(clamp)).collect())
            .collect();
        let colors: Vec<Color> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| series_color(s, i))
            .collect();
        let legend: Vec<LegendEntry> = if self.series.len() >= 2 {
            self.series
                .iter()
                .zip(&colors)
                .map(|(s, &color)| LegendEntry::line(&s.name, color.css()))
                .collect()
        } else {
            Vec::new()
        };
        let width = frame.width();
        let height = frame.height_or(f64::from(DEFAULT_HEIGHT));
        let (legend_svg, legend_height) = legend_rows(&legend, width, frame.title_height());
        let plot = CategoryPlot::new(frame, width, height, legend_height, &self.labels, low, high);

        let mut body = String::new();
        body.push_str(&visible_title(frame));
        body.push_str(&legend_svg);
        for band in &self.bands {
            let (from, to) = (
                band.from.clamp(plot.ticks.low, plot.ticks.high),
                band.to.clamp(plot.ticks.low, plot.ticks.high),
            );
            if to <= from {
                continue;
            }
            let _ = write!(
                body,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.12"/><text x="{}" y="{}" text-anchor="end" font-size="10" fill-opacity="0.7">{}</text>"#,
                num(plot.left),
                num(plot.y(to)),
                num(plot.width),
                num(plot.y(from) - plot.y(to)),
                band.color.css(),
                num(plot.left + plot.width - 4.0),
                num(plot.y(to) + 11.0),
                escape(&band.name)
            );
        }
        body.push_str(&plot.grid(frame.format));
        if plot.ticks.low < 0.0 {
            body.push_str(&plot.zero_line());
        }
        if let Some((value, name)) = &self.reference {
            let y = num(plot.y(*value));
            let _ = write!(
                body,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="currentColor" stroke-dasharray="6 4" stroke-opacity="0.8"/><text x="{}" y="{}" font-size="11" fill-opacity="0.85">{}</text>"#,
                num(plot.left),
                num(plot.left + plot.width),
                num(plot.left + 4.0),
                num(plot.y(*value) - 4.0),
                escape(name)
            );
        }
        let baseline = plot.y(0.0f64.clamp(plot.ticks.low, plot.ticks.high));
        let radius = if plot.slot >= 10.0 { 3.0 } else { 2.0 };
        // A series of one value is a point: drawn larger, with its value written beside it.
        let single = values.iter().flatten().flatten().count() == 1;
        for ((series, series_values), color) in self.series.iter().zip(&values).zip(&colors) {
            let color = color.css();
            let runs = runs(series_values);
            if self.area {
                for run in runs.iter().filter(|run| run.len() >= 2) {
                    // The line's points, then down to the baseline and back to the start.
                    let (Some(&(first, _)), Some(&(last, _))) = (run.first(), run.last()) else {
                        continue;
                    };
                    let _ = write!(
                        body,
                        r#"<polygon points="{} {} {}" fill="{color}" fill-opacity="0.15"/>"#,
                        plot.polyline_points(run),
                        point(plot.x(last), baseline),
                        point(plot.x(first), baseline)
                    );
                }
            }
            for run in runs.iter().filter(|run| run.len() >= 2) {
                let _ = write!(
                    body,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round"/>"#,
                    plot.polyline_points(run)
                );
            }
            for &(i, v) in runs.iter().flatten() {
                let _ = write!(
                    body,
                    r#"<circle cx="{}" cy="{}" r="{}" fill="{color}">{}</circle>"#,
                    num(plot.x(i)),
                    num(plot.y(v)),
                    num(if single { 5.0 } else { radius }),
                    tooltip(&self.labels[i], &series.name, frame.format.format(v)),
                );
                if single {
                    let _ = write!(
                        body,
                        r#"<text x="{}" y="{}" font-size="12" font-weight="600">{}</text>"#,
                        num(plot.x(i) + 9.0),
                        num(plot.y(v) - 8.0),
                        escape(&frame.format.format(v))
                    );
                }
            }
        }
        body.push_str(&plot.x_labels(&self.labels));

        let description = frame.description.clone().unwrap_or_else(|| {
            let mut text = format!("Line chart of {} {}.", join_names(&names), label_span(&self.labels));
            for (series, series_values) in self.series.iter().zip(&values) {
                text.push(' ');
                text.push_str(&series_summary(&series.name, series_values, &self.labels, frame.format));
            }
            text
        });
        document(width, height, &name, &description, &body)
    }
}

/// Per x label, several components stacked: positive values upwards from zero (e.g. new,
/// expansion, reactivation MRR), negative values downwards (contraction and churn, which the
/// caller passes as negative numbers). Optionally a net line through each label's sum.
#[derive(Debug, Clone, PartialEq)]
pub struct StackedBarChart {
    frame: Frame,
    labels: Vec<String>,
    components: Vec<Series>,
    net: Option<String>,
}

impl StackedBarChart {
    pub fn new<L: Into<String>>(labels: impl IntoIterator<Item = L>, format: ValueFormat) -> StackedBarChart {
        StackedBarChart {
            frame: Frame::new(format),
            labels: labels.into_iter().map(Into::into).collect(),
            components: Vec::new(),
            net: None,
        }
    }

    /// Adds a component; stacking follows the order components are added.
    pub fn component(mut self, component: Series) -> StackedBarChart {
        self.components.push(component);
        self
    }

    /// Draws each label's sum of components as a line with markers, named `name` in the
    /// legend and tooltips.
    pub fn net(mut self, name: impl Into<String>) -> StackedBarChart {
        self.net = Some(name.into());
        self
    }

    frame_methods!();

    /// The chart as an `<svg>` element to embed inline in HTML.
    pub fn to_svg(&self) -> String {
        let frame = &self.frame;
        let count = self.labels.len();
        let values: Vec<Vec<Option<f64>>> = self.components.iter().map(|s| aligned(&s.values, count)).collect();
        let names: Vec<&str> = self.components.iter().map(|s| s.name.as_str()).collect();
        let name = frame
            .title
            .clone()
            .unwrap_or_else(|| default_name(&names, "Stacked bar chart"));
        let column = |i: usize| values.iter().filter_map(move |v| v[i]);
        let positive: Vec<f64> = (0..count).map(|i| column(i).filter(|v| *v > 0.0).sum()).collect();
        let negative: Vec<f64> = (0..count).map(|i| column(i).filter(|v| *v < 0.0).sum()).collect();
        let net: Vec<Option<f64>> = (0..count).map(|i| column(i).reduce(|sum, v| sum + v)).collect();
        if net.iter().all(Option::is_none) {
            return no_data(frame, &name);
        }
        let low = negative.iter().copied().fold(0.0, f64::min);
        let high = positive.iter().copied().fold(0.0, f64::max);

        let colors: Vec<Color> = self
            .components
            .iter()
            .enumerate()
            .map(|(i, s)| series_color(s, i))
            .collect();
        let mut legend: Vec<LegendEntry> = self
            .components
            .iter()
            .zip(&colors)
            .map(|(s, &color)| LegendEntry::swatch(&s.name, color.css()))
            .collect();
        if let Some(net_name) = &self.net {
            legend.push(LegendEntry::line(net_name, "currentColor".to_string()));
        }
        if legend.len() < 2 {
            legend.clear();
        }
        let width = frame.width();
        let height = frame.height_or(f64::from(DEFAULT_HEIGHT));
        let (legend_svg, legend_height) = legend_rows(&legend, width, frame.title_height());
        let plot = CategoryPlot::new(frame, width, height, legend_height, &self.labels, low, high);

        let mut body = String::new();
        body.push_str(&visible_title(frame));
        body.push_str(&legend_svg);
        body.push_str(&plot.grid(frame.format));
        let bar_width = (plot.slot * 0.7).clamp(1.0, 56.0);
        for (i, label) in self.labels.iter().enumerate() {
            // Running totals above and below zero: each part starts where the previous one ended.
            let (mut above, mut below) = (0.0, 0.0);
            for ((component, component_values), color) in self.components.iter().zip(&values).zip(&colors) {
                let Some(value) = component_values[i].filter(|v| *v != 0.0) else {
                    continue;
                };
                let (from, to) = if value > 0.0 {
                    above += value;
                    (above - value, above)
                } else {
                    below += value;
                    (below - value, below)
                };
                let top = plot.y(from.max(to));
                let bottom = plot.y(from.min(to));
                let link = component.links.get(i).and_then(Option::as_deref);
                if let Some(href) = link {
                    let _ = write!(body, r#"<a href="{}">"#, escape(href));
                }
                let _ = write!(
                    body,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}">{}</rect>"#,
                    num(plot.x(i) - bar_width / 2.0),
                    num(top),
                    num(bar_width),
                    num(bottom - top),
                    color.css(),
                    tooltip(label, &component.name, frame.format.format(value)),
                );
                if link.is_some() {
                    body.push_str("</a>");
                }
            }
        }
        body.push_str(&plot.zero_line());
        if let Some(net_name) = &self.net {
            for run in runs(&net).iter().filter(|run| run.len() >= 2) {
                let _ = write!(
                    body,
                    r#"<polyline points="{}" fill="none" stroke="currentColor" stroke-width="1.5"/>"#,
                    plot.polyline_points(run)
                );
            }
            for (i, value) in net.iter().enumerate() {
                if let Some(value) = *value {
                    let _ = write!(
                        body,
                        r#"<circle cx="{}" cy="{}" r="3.5" fill="currentColor" stroke="white" stroke-width="1">{}</circle>"#,
                        num(plot.x(i)),
                        num(plot.y(value)),
                        tooltip(&self.labels[i], net_name, frame.format.format(value)),
                    );
                }
            }
        }
        body.push_str(&plot.x_labels(&self.labels));

        let description = frame.description.clone().unwrap_or_else(|| {
            let mut text = format!(
                "Stacked bar chart of {} {}; positive parts above zero, negative parts below.",
                join_names(&names),
                label_span(&self.labels)
            );
            let last_net = net.iter().enumerate().rev().find_map(|(i, v)| v.map(|v| (i, v)));
            if let Some((i, value)) = last_net {
                let _ = write!(text, " Net at {}: {}.", self.labels[i], frame.format.format(value));
            }
            text
        });
        document(width, height, &name, &description, &body)
    }
}

/// Labelled categories with one value each, as horizontal bars in the given order, e.g. users
/// by department. The chart grows with the number of bars unless `size` fixes its height.
#[derive(Debug, Clone, PartialEq)]
pub struct HorizontalBarChart {
    frame: Frame,
    name: String,
    bars: Vec<(String, Option<f64>)>,
    color: Option<Color>,
}

impl HorizontalBarChart {
    /// `name` says what the values are ("Active users"); tooltips read "Sales: Active users = 42".
    pub fn new(name: impl Into<String>, format: ValueFormat) -> HorizontalBarChart {
        HorizontalBarChart {
            frame: Frame::new(format),
            name: name.into(),
            bars: Vec::new(),
            color: None,
        }
    }

    /// Appends bars as (label, value) pairs; values may be `f64` or `Option<f64>`.
    pub fn bars<L: Into<String>, V: Into<Option<f64>>>(mut self, bars: impl IntoIterator<Item = (L, V)>) -> Self {
        self.bars.extend(
            bars.into_iter()
                .map(|(label, value)| (label.into(), clean(value.into()))),
        );
        self
    }

    /// The bars' colour (default: the palette's first).
    pub fn color(mut self, color: Color) -> HorizontalBarChart {
        self.color = Some(color);
        self
    }

    frame_methods!();

    /// The chart as an `<svg>` element to embed inline in HTML.
    pub fn to_svg(&self) -> String {
        let frame = &self.frame;
        let format = frame.format;
        let name = frame.title.clone().unwrap_or_else(|| self.name.clone());
        let Some((low, high)) = min_max(self.bars.iter().filter_map(|(_, v)| *v)) else {
            return no_data(frame, &name);
        };
        let (low, high) = (low.min(0.0), high.max(0.0));
        let count = self.bars.len() as f64;
        let width = frame.width();
        let top = frame.title_height() + 8.0;
        let axis_labels_height = 24.0;
        let height = frame.height_or(top + count * HORIZONTAL_ROW_HEIGHT + axis_labels_height + 4.0);
        let plot_height = (height - top - axis_labels_height - 4.0).max(count.min(1.0) * 10.0);
        let row = plot_height / count;

        // Category labels get at most 40% of the width; longer ones are cut with an ellipsis.
        let label_chars = ((width * 0.4 / CHAR_WIDTH) as usize).clamp(4, 40);
        let labels: Vec<String> = self.bars.iter().map(|(label, _)| shorten(label, label_chars)).collect();
        let label_width = labels.iter().map(|l| text_width(l)).fold(0.0, f64::max);
        let value_texts: Vec<String> = self
            .bars
            .iter()
            .map(|(_, v)| v.map_or_else(|| "n/a".to_string(), |v| format.format(v)))
            .collect();
        let value_width = value_texts.iter().map(|t| text_width(t)).fold(0.0, f64::max) + 6.0;
        // Values of negative bars sit left of the bar, so they need room before the plot too.
        let negative_room = if low < 0.0 { value_width } else { 0.0 };
        let left = label_width + 16.0 + negative_room;
        let ticks_guess = nice_ticks(low, high, 5);
        let tick_width = ticks_guess
            .values
            .iter()
            .map(|&v| text_width(&format.format_with_step(v, Some(ticks_guess.step))))
            .fold(0.0, f64::max);
        let right = value_width.max(tick_width / 2.0 + 4.0).max(12.0);
        let plot_width = (width - left - right).max(20.0);
        let ticks = nice_ticks(low, high, (plot_width / 90.0).round().clamp(2.0, 8.0) as usize);
        let x = |v: f64| left + plot_width * (v - ticks.low) / (ticks.high - ticks.low);
        let bottom = top + plot_height;

        let mut body = visible_title(frame);
        for &tick in &ticks.values {
            let _ = write!(
                body,
                r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="currentColor" stroke-opacity="0.12"/><text x="{x}" y="{}" text-anchor="middle" fill-opacity="0.75">{}</text>"#,
                num(top),
                num(bottom),
                num(bottom + 16.0),
                escape(&format.format_with_step(tick, Some(ticks.step))),
                x = num(x(tick)),
            );
        }
        let bar_height = (row * 0.7).clamp(1.0, 22.0);
        let color = self.color.unwrap_or(Color::PALETTE[0]).css();
        for (index, (((label, value), short_label), value_text)) in
            self.bars.iter().zip(&labels).zip(&value_texts).enumerate()
        {
            let center = top + (index as f64 + 0.5) * row;
            let _ = write!(
                body,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                num(left - 8.0 - negative_room),
                num(center + 4.0),
                escape(short_label)
            );
            let Some(value) = *value else {
                let _ = write!(
                    body,
                    r#"<text x="{}" y="{}" fill-opacity="0.6">n/a</text>"#,
                    num(x(0.0) + 4.0),
                    num(center + 4.0)
                );
                continue;
            };
            let (start, end) = (x(value.min(0.0)), x(value.max(0.0)));
            let _ = write!(
                body,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{color}">{}</rect>"#,
                num(start),
                num(center - bar_height / 2.0),
                num(end - start),
                num(bar_height),
                tooltip(label, &self.name, value_text.clone()),
            );
            let (text_x, anchor) = if value < 0.0 {
                (start - 4.0, "end")
            } else {
                (end + 4.0, "start")
            };
            let _ = write!(
                body,
                r#"<text x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
                num(text_x),
                num(center + 4.0),
                escape(value_text)
            );
        }
        let zero = num(x(0.0));
        let _ = write!(
            body,
            r#"<line x1="{zero}" y1="{}" x2="{zero}" y2="{}" stroke="currentColor" stroke-opacity="0.6"/>"#,
            num(top),
            num(bottom)
        );

        let description = frame.description.clone().unwrap_or_else(|| {
            const LISTED: usize = 12;
            let listed: Vec<String> = self
                .bars
                .iter()
                .zip(&value_texts)
                .take(LISTED)
                .map(|((label, _), text)| format!("{label} {text}"))
                .collect();
            let more = self.bars.len().saturating_sub(LISTED);
            let rest = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("Bar chart of {} by category: {}{rest}.", self.name, listed.join(", "))
        });
        document(width, height, &name, &description, &body)
    }
}

/// The plot area of a chart with categories along x and values along y, and its axes.
struct CategoryPlot {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    ticks: Ticks,
    /// Horizontal space per category; each sits in the middle of its slot.
    slot: f64,
    /// Every how many'th x label is written.
    label_step: usize,
    label_chars: usize,
}

impl CategoryPlot {
    fn new(frame: &Frame, width: f64, height: f64, header: f64, labels: &[String], low: f64, high: f64) -> Self {
        let x_labels_height = 26.0;
        // Half a line of room above so the top tick's label is not clipped.
        let top = header + 10.0;
        let plot_height = (height - top - x_labels_height).max(40.0);
        let ticks = nice_ticks(low, high, (plot_height / 50.0).round().clamp(2.0, 8.0) as usize);
        let tick_width = ticks
            .values
            .iter()
            .map(|&v| text_width(&frame.format.format_with_step(v, Some(ticks.step))))
            .fold(0.0, f64::max);
        let label_chars = MAX_LABEL_CHARS;
        let label_width = labels
            .iter()
            .map(|l| text_width(&shorten(l, label_chars)))
            .fold(0.0, f64::max);
        // The first and last x labels are centred on their slots; keep them inside the SVG.
        let left = (tick_width + 12.0).max(label_width / 2.0 + 4.0);
        let right = (label_width / 2.0 + 4.0).max(12.0);
        let plot_width = (width - left - right).max(20.0);
        let slot = plot_width / labels.len().max(1) as f64;
        CategoryPlot {
            left,
            top,
            width: plot_width,
            height: plot_height,
            ticks,
            slot,
            label_step: label_step(labels.len(), slot, label_width),
            label_chars,
        }
    }

    fn x(&self, index: usize) -> f64 {
        self.left + (index as f64 + 0.5) * self.slot
    }

    fn y(&self, value: f64) -> f64 {
        self.top + self.height * (self.ticks.high - value) / (self.ticks.high - self.ticks.low)
    }

    /// "x,y x,y ..." through consecutive values.
    fn polyline_points(&self, run: &[(usize, f64)]) -> String {
        let points: Vec<String> = run.iter().map(|&(i, v)| point(self.x(i), self.y(v))).collect();
        points.join(" ")
    }

    /// Horizontal gridlines with their value labels.
    fn grid(&self, format: ValueFormat) -> String {
        let mut svg = String::new();
        let right = num(self.left + self.width);
        for &tick in &self.ticks.values {
            let y = self.y(tick);
            let _ = write!(
                svg,
                r#"<line x1="{}" y1="{y}" x2="{right}" y2="{y}" stroke="currentColor" stroke-opacity="0.12"/><text x="{}" y="{}" text-anchor="end" fill-opacity="0.75">{}</text>"#,
                num(self.left),
                num(self.left - 6.0),
                num(y + 4.0),
                escape(&format.format_with_step(tick, Some(self.ticks.step))),
                y = num(y),
            );
        }
        svg
    }

    fn zero_line(&self) -> String {
        let y = num(self.y(0.0));
        format!(
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="currentColor" stroke-opacity="0.6"/>"#,
            num(self.left),
            num(self.left + self.width)
        )
    }

    /// Every `label_step`'th label under its slot, so that written labels never overlap.
    fn x_labels(&self, labels: &[String]) -> String {
        let mut svg = String::from(r#"<g text-anchor="middle" fill-opacity="0.75">"#);
        let y = num(self.top + self.height + 18.0);
        for (i, label) in labels.iter().enumerate().step_by(self.label_step) {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{y}">{}</text>"#,
                num(self.x(i)),
                escape(&shorten(label, self.label_chars))
            );
        }
        svg.push_str("</g>");
        svg
    }
}

/// Every how many'th category label to write so that written labels never overlap: labels
/// `label_width` wide, centred on slots `slot` apart, with a gap between them.
fn label_step(count: usize, slot: f64, label_width: f64) -> usize {
    const GAP: f64 = 10.0;
    if slot.is_nan() || slot <= 0.0 {
        return count.max(1);
    }
    let needed = ((label_width + GAP) / slot).ceil().max(1.0) as usize;
    // Steps that read as calendar units on monthly data (quarters, half years, years), unless
    // that would drop many more labels than needed (as 12 would on weekly data needing 7).
    [1, 2, 3, 4, 6, 12]
        .into_iter()
        .find(|&step| step >= needed)
        .filter(|&step| step * 2 <= needed * 3)
        .unwrap_or(needed)
}

/// Axis ticks at a "nice" step: 1, 2 or 5 times a power of ten.
#[derive(Debug, Clone, PartialEq)]
struct Ticks {
    values: Vec<f64>,
    step: f64,
    low: f64,
    high: f64,
}

/// About `target` ticks covering `min..=max`, starting and ending on a multiple of the step.
fn nice_ticks(min: f64, max: f64, target: usize) -> Ticks {
    let (mut low, mut high) = if min <= max { (min, max) } else { (max, min) };
    if low == high {
        // A flat series still needs a span: widen around it (or above zero).
        let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        low -= if low == 0.0 { 0.0 } else { pad };
        high += pad;
    }
    let raw = (high - low) / target.max(1) as f64;
    let exponent = raw.log10().floor() as i32;
    let fraction = raw / 10f64.powi(exponent);
    let multiple = match fraction {
        f if f <= 1.0 => 1.0,
        f if f <= 2.0 => 2.0,
        f if f <= 5.0 => 5.0,
        _ => 10.0,
    };
    // Integer multiples divided by an exact power of ten give clean decimals (0.6, not 0.6000000000000001).
    let at = |i: i64| {
        if exponent < 0 {
            i as f64 * multiple / 10f64.powi(-exponent)
        } else {
            i as f64 * multiple * 10f64.powi(exponent)
        }
    };
    let step = at(1);
    let first = (low / step + 1e-9).floor();
    let last = (high / step - 1e-9).ceil();
    if step.is_nan() || step <= 0.0 || !first.is_finite() || !last.is_finite() || last - first > 100.0 {
        return Ticks {
            values: vec![low, high],
            step: high - low,
            low,
            high,
        };
    }
    let values: Vec<f64> = (first as i64..=last as i64).map(at).collect();
    Ticks {
        low: at(first as i64),
        high: at(last as i64),
        values,
        step,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum LegendMark {
    Swatch,
    Line,
}

struct LegendEntry {
    name: String,
    color: String,
    mark: LegendMark,
}

impl LegendEntry {
    fn swatch(name: &str, color: String) -> LegendEntry {
        LegendEntry {
            name: name.to_string(),
            color,
            mark: LegendMark::Swatch,
        }
    }

    fn line(name: &str, color: String) -> LegendEntry {
        LegendEntry {
            name: name.to_string(),
            color,
            mark: LegendMark::Line,
        }
    }
}

/// The legend as rows of mark + name, wrapping at the chart's width; returns the SVG and the
/// height used from the top of the chart (including the title above it).
fn legend_rows(entries: &[LegendEntry], width: f64, title_height: f64) -> (String, f64) {
    if entries.is_empty() {
        return (String::new(), title_height);
    }
    let (margin, mark_width, gap) = (8.0, 14.0, 16.0);
    let mut svg = String::from(r#"<g class="legend">"#);
    let (mut x, mut row) = (margin, 0.0);
    for entry in entries {
        let name = shorten(&entry.name, 32);
        let entry_width = mark_width + 5.0 + text_width(&name);
        if x > margin && x + entry_width > width - margin {
            x = margin;
            row += 1.0;
        }
        let center = title_height + 6.0 + row * LINE_HEIGHT + LINE_HEIGHT / 2.0;
        let _ = match entry.mark {
            LegendMark::Swatch => write!(
                svg,
                r#"<rect x="{}" y="{}" width="12" height="12" rx="2" fill="{}"/>"#,
                num(x + 1.0),
                num(center - 6.0),
                entry.color
            ),
            LegendMark::Line => write!(
                svg,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="2"/><circle cx="{}" cy="{y}" r="3" fill="{color}"/>"#,
                num(x),
                num(x + mark_width),
                num(x + mark_width / 2.0),
                y = num(center),
                color = entry.color
            ),
        };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(x + mark_width + 5.0),
            num(center + 4.0),
            escape(&name)
        );
        x += entry_width + gap;
    }
    svg.push_str("</g>");
    (svg, title_height + 6.0 + (row + 1.0) * LINE_HEIGHT)
}

fn visible_title(frame: &Frame) -> String {
    match &frame.title {
        Some(title) => format!(
            r#"<text x="8" y="16" font-size="14" font-weight="600">{}</text>"#,
            escape(title)
        ),
        None => String::new(),
    }
}

/// A chart without values: same frame, a centred "No data".
fn no_data(frame: &Frame, name: &str) -> String {
    let width = frame.width();
    let height = frame.height_or(120.0);
    let body = format!(
        r#"{}<text x="{}" y="{}" text-anchor="middle" fill-opacity="0.6">No data</text>"#,
        visible_title(frame),
        num(width / 2.0),
        num((height + frame.title_height()) / 2.0)
    );
    let description = frame.description.clone().unwrap_or_else(|| "No data.".to_string());
    document(width, height, name, &description, &body)
}

/// The `<svg>` element around `body`. The ids that tie the title and description to the SVG
/// are a hash of the content: stable across renders, distinct for different charts on a page.
fn document(width: f64, height: f64, name: &str, description: &str, body: &str) -> String {
    let id = format!("chart-{:016x}", fnv1a([name, description, body]));
    // A picture, unless it holds links: then a figure, whose links stay reachable.
    let role = if body.contains("<a href=") { "figure" } else { "img" };
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="{role}" "#,
            r#"aria-labelledby="{id}-title" aria-describedby="{id}-desc" font-family="inherit" font-size="12" "#,
            r#"fill="currentColor"><title id="{id}-title">{name}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>"#
        ),
        w = num(width),
        h = num(height),
        role = role,
        id = id,
        name = escape(name),
        desc = escape(description),
        body = body
    )
}

fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    parts
        .into_iter()
        .flat_map(|part| part.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The hover text of a bar or point: "2025-03: Churn = -$4k".
fn tooltip(label: &str, series: &str, value: String) -> String {
    format!(
        "<title>{}: {} = {}</title>",
        escape(label),
        escape(series),
        escape(&value)
    )
}

fn series_color(series: &Series, index: usize) -> Color {
    series.color.unwrap_or_else(|| palette_color(index))
}

/// One value per label: extra values dropped, missing ones and non-finite ones as gaps.
fn aligned(values: &[Option<f64>], count: usize) -> Vec<Option<f64>> {
    (0..count)
        .map(|i| values.get(i).copied().flatten().and_then(|v| clean(Some(v))))
        .collect()
}

/// NaN and infinities are missing values; absurdly large figures are clamped.
fn clean(value: Option<f64>) -> Option<f64> {
    value
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-LARGEST_VALUE, LARGEST_VALUE))
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |range, v| match range {
        None => Some((v, v)),
        Some((low, high)) => Some((v.min(low), v.max(high))),
    })
}

/// Consecutive present values, as (index, value), between gaps.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut runs: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => current.push((i, *v)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

fn default_name(names: &[&str], fallback: &str) -> String {
    if names.is_empty() {
        fallback.to_string()
    } else {
        names.join(", ")
    }
}

/// "A", "A and B", "A, B and C".
fn join_names(names: &[&str]) -> String {
    match names {
        [] => "no series".to_string(),
        [only] => (*only).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn label_span(labels: &[String]) -> String {
    match labels {
        [] => String::new(),
        [only] => format!("for {only}"),
        [first, .., last] => format!("over {} points from {first} to {last}", labels.len()),
    }
}

/// "MRR: $10k at 2025-01, $12.3k at 2025-12, low $9.8k, high $12.5k."
fn series_summary(name: &str, values: &[Option<f64>], labels: &[String], format: ValueFormat) -> String {
    let present: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    let (Some(&(first, first_value)), Some(&(last, last_value))) = (present.first(), present.last()) else {
        return format!("{name}: no data.");
    };
    let Some((low, high)) = min_max(present.iter().map(|&(_, v)| v)) else {
        return format!("{name}: no data.");
    };
    let f = |v: f64| format.format(v);
    if first == last {
        return format!("{name}: {} at {}.", f(first_value), labels[first]);
    }
    format!(
        "{name}: {} at {}, {} at {}, low {}, high {}.",
        f(first_value),
        labels[first],
        f(last_value),
        labels[last],
        f(low),
        f(high)
    )
}

/// Estimated width of `text` at 12px, measured on DejaVu Sans, one of the widest common UI
/// fonts: labels placed by it do not collide or clip whatever font the page uses.
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | 'I' | '.' | ',' | ':' | ';' | '\'' | '!' | '|' | '(' | ')' | '[' | ']' | ' ' => 4.0,
            'f' | 'r' | 't' | '-' => 5.0,
            'm' | 'w' | 'M' | 'W' | '%' | '@' | '&' => 11.0,
            '0'..='9' => 7.7,
            c if c.is_uppercase() => 8.8,
            _ => CHAR_WIDTH,
        })
        .sum()
}

/// At most `max_chars` characters, the cut marked with an ellipsis.
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// A coordinate with at most one decimal, without "-0" or a trailing ".0".
fn num(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 || !rounded.is_finite() {
        return "0".to_string();
    }
    trim_zeros(format!("{rounded:.1}"))
}

fn point(x: f64, y: f64) -> String {
    format!("{},{}", num(x), num(y))
}

/// Text as XML character data or attribute value. Characters XML 1.0 forbids (most
/// control characters) are dropped so the document stays well-formed.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{svg}"))
    }

    fn attr(node: roxmltree::Node, name: &str) -> f64 {
        node.attribute(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing or not a number on {node:?}"))
    }

    /// The text of the `<title>` child of a bar or point.
    fn hover_text(node: roxmltree::Node) -> Option<String> {
        node.children()
            .find(|c| c.has_tag_name("title"))
            .and_then(|t| t.text())
            .map(str::to_string)
    }

    fn elements<'a>(doc: &'a roxmltree::Document, tag: &str) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
    }

    /// Texts of the x-axis labels with their x positions.
    fn x_labels(doc: &roxmltree::Document) -> Vec<(String, f64)> {
        doc.descendants()
            .filter(|n| n.has_tag_name("g") && n.attribute("text-anchor") == Some("middle"))
            .flat_map(|g| g.children().filter(|c| c.has_tag_name("text")))
            .map(|t| (t.text().unwrap_or_default().to_string(), attr(t, "x")))
            .collect()
    }

    fn months(count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("{}-{:02}", 2024 + i / 12, i % 12 + 1))
            .collect()
    }

    fn revenue_movements() -> StackedBarChart {
        StackedBarChart::new(months(4), ValueFormat::Money)
            .component(Series::new("New", [1200.0, 800.0, 1500.0, 900.0]).color(Color::BLUISH_GREEN))
            .component(Series::new("Expansion", [300.0, 460.0, 0.0, 600.0]))
            .component(Series::new("Contraction", [-200.0, -100.0, -60.0, -300.0]))
            .component(Series::new("Churn", [Some(-700.0), None, Some(-400.0), Some(-1800.0)]).color(Color::VERMILLION))
            .net("Net")
    }

    #[test]
    fn user_text_is_escaped_everywhere() {
        let nasty = "<script>&\"'";
        let charts = [
            LineChart::new([nasty, "b"], ValueFormat::Count)
                .series(Series::new(nasty, [1.0, 2.0]))
                .series(Series::new("other", [2.0, 1.0]))
                .title(nasty)
                .to_svg(),
            StackedBarChart::new([nasty], ValueFormat::Money)
                .component(Series::new(nasty, [5.0]))
                .component(Series::new("x", [-5.0]))
                .net(nasty)
                .to_svg(),
            HorizontalBarChart::new(nasty, ValueFormat::Count)
                .bars([(nasty, 3.0)])
                .description(nasty)
                .to_svg(),
        ];
        for svg in &charts {
            assert!(!svg.contains("<script"), "raw markup in {svg}");
            assert!(svg.contains("&lt;script&gt;&amp;&quot;&apos;"), "{svg}");
            let doc = parse(svg);
            let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
            assert!(
                texts.iter().any(|t| t.contains(nasty)),
                "the parsed text reads as the input"
            );
            assert!(elements(&doc, "script").is_empty());
        }
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(escape("a\u{0}b\u{1b}c\td"), "abc\td");
        let svg = HorizontalBarChart::new("Users", ValueFormat::Count)
            .bars([("bad\u{7}", 1.0)])
            .to_svg();
        parse(&svg);
    }

    #[test]
    fn nice_ticks_step_by_one_two_or_five() {
        assert_eq!(nice_ticks(0.0, 97.0, 5).values, [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(-37.0, 52.0, 5).values, [-40.0, -20.0, 0.0, 20.0, 40.0, 60.0]);
        assert_eq!(
            nice_ticks(-2_300.0, -150.0, 5).values,
            [-2_500.0, -2_000.0, -1_500.0, -1_000.0, -500.0, 0.0]
        );
        assert_eq!(nice_ticks(0.95, 1.1, 5).values, [0.95, 1.0, 1.05, 1.1]);
        assert_eq!(nice_ticks(0.0, 0.83, 5).values, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let money = nice_ticks(0.0, 1_234_567.0, 5);
        assert_eq!(money.step, 500_000.0);
        assert_eq!(money.values, [0.0, 500_000.0, 1_000_000.0, 1_500_000.0]);
    }

    #[test]
    fn nice_ticks_of_a_flat_or_extreme_range_still_span_something() {
        assert_eq!(nice_ticks(0.0, 0.0, 5).values, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let flat = nice_ticks(40.0, 40.0, 5);
        assert!(flat.low < 40.0 && flat.high > 40.0, "{flat:?}");
        let wide = nice_ticks(-LARGEST_VALUE, LARGEST_VALUE, 5);
        assert!(wide.values.len() >= 2 && wide.values.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn money_is_short_and_signed() {
        let money = |v| ValueFormat::Money.format(v);
        assert_eq!(money(12_345.0), "$12.3k");
        assert_eq!(money(1_234_567.0), "$1.2M");
        assert_eq!(money(2_500_000_000.0), "$2.5B");
        assert_eq!(money(-4_000.0), "-$4k");
        assert_eq!(money(950.0), "$950");
        assert_eq!(money(49.5), "$49.50");
        assert_eq!(money(-0.001), "$0");
        assert_eq!(money(999_960.0), "$1M");
        assert_eq!(money(999.999), "$1k");
        assert_eq!(money(f64::NAN), "n/a");
    }

    #[test]
    fn percent_and_count_formats() {
        assert_eq!(ValueFormat::Percent.format(0.95), "95%");
        assert_eq!(ValueFormat::Percent.format(0.955), "95.5%");
        assert_eq!(ValueFormat::Percent.format(1.1234), "112.3%");
        assert_eq!(ValueFormat::Percent.format(-0.05), "-5%");
        assert_eq!(ValueFormat::Count.format(1_200.0), "1.2k");
        assert_eq!(ValueFormat::Count.format(42.0), "42");
        assert_eq!(ValueFormat::Count.format(2.5), "2.5");
        assert_eq!(ValueFormat::Count.format(3_400_000.0), "3.4M");
    }

    #[test]
    fn axis_labels_tell_neighbouring_ticks_apart() {
        assert_eq!(ValueFormat::Money.format_with_step(1_020.0, Some(20.0)), "$1.02k");
        assert_eq!(ValueFormat::Money.format_with_step(1_500.0, Some(500.0)), "$1.5k");
        assert_eq!(ValueFormat::Percent.format_with_step(0.955, Some(0.005)), "95.5%");
        assert_eq!(ValueFormat::Percent.format_with_step(1.05, Some(0.05)), "105%");
        assert_eq!(ValueFormat::Count.format_with_step(0.6, Some(0.2)), "0.6");
    }

    #[test]
    fn stacked_bars_put_negative_parts_below_the_zero_line() {
        let svg = revenue_movements().to_svg();
        let doc = parse(&svg);
        let zero_line = elements(&doc, "line")
            .into_iter()
            .find(|l| l.attribute("stroke-opacity") == Some("0.6"))
            .expect("a zero line");
        let zero = attr(zero_line, "y1");
        let bars: Vec<(String, f64, f64)> = elements(&doc, "rect")
            .into_iter()
            .filter_map(|r| Some((hover_text(r)?, attr(r, "y"), attr(r, "height"))))
            .collect();
        // 4 new + 3 non-zero expansion + 4 contraction + 3 churn.
        assert_eq!(bars.len(), 14, "{bars:?}");
        for (text, y, height) in &bars {
            assert!(*height > 0.0, "{text}");
            if text.contains("Churn") || text.contains("Contraction") {
                assert!(*y >= zero - 0.05, "{text} starts above zero: y {y}, zero {zero}");
            } else {
                assert!(y + height <= zero + 0.05, "{text} reaches below zero");
            }
        }
        // Parts stack: the March churn starts where March contraction ends.
        let find = |prefix: &str| bars.iter().find(|(t, ..)| t.starts_with(prefix)).expect(prefix);
        let contraction = find("2024-03: Contraction");
        let churn = find("2024-03: Churn");
        assert!((contraction.1 + contraction.2 - churn.1).abs() < 0.15);
        assert_eq!(churn.0, "2024-03: Churn = -$400");
    }

    #[test]
    fn net_line_marks_each_labels_sum() {
        let doc_text = revenue_movements().to_svg();
        let doc = parse(&doc_text);
        let net: Vec<String> = elements(&doc, "circle").into_iter().filter_map(hover_text).collect();
        assert_eq!(
            net,
            [
                "2024-01: Net = $600",
                "2024-02: Net = $1.2k",
                "2024-03: Net = $1k",
                "2024-04: Net = -$600"
            ]
        );
    }

    #[test]
    fn charts_without_values_say_no_data() {
        let nan_only = Series::new("MRR", [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        let charts = [
            LineChart::new(Vec::<String>::new(), ValueFormat::Money).to_svg(),
            LineChart::new(["a", "b", "c"], ValueFormat::Money)
                .series(nan_only.clone())
                .to_svg(),
            LineChart::new(["a"], ValueFormat::Money)
                .series(Series::new("x", [None::<f64>]))
                .to_svg(),
            StackedBarChart::new(["a", "b", "c"], ValueFormat::Money)
                .component(nan_only)
                .to_svg(),
            StackedBarChart::new(["a"], ValueFormat::Money).to_svg(),
            HorizontalBarChart::new("Users", ValueFormat::Count).to_svg(),
            HorizontalBarChart::new("Users", ValueFormat::Count)
                .bars([("a", f64::NAN)])
                .to_svg(),
        ];
        for svg in &charts {
            let doc = parse(svg);
            assert_eq!(doc.root_element().attribute("role"), Some("img"));
            assert!(
                elements(&doc, "text").iter().any(|t| t.text() == Some("No data")),
                "{svg}"
            );
        }
    }

    #[test]
    fn non_finite_values_are_gaps() {
        let svg = LineChart::new(["a", "b", "c", "d"], ValueFormat::Count)
            .series(Series::new("Users", [1.0, f64::NAN, 3.0, f64::INFINITY]))
            .to_svg();
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let doc = parse(&svg);
        let points: Vec<String> = elements(&doc, "circle").into_iter().filter_map(hover_text).collect();
        assert_eq!(points, ["a: Users = 1", "c: Users = 3"]);
        // Isolated points have markers but no line to connect.
        assert!(elements(&doc, "polyline").is_empty());
    }

    #[test]
    fn gaps_break_the_line() {
        let svg = LineChart::new(months(6), ValueFormat::Percent)
            .series(Series::new(
                "NRR",
                [Some(1.0), Some(1.02), None, Some(0.98), Some(1.01), Some(1.05)],
            ))
            .include_zero(false)
            .area(true)
            .to_svg();
        let doc = parse(&svg);
        assert_eq!(elements(&doc, "polyline").len(), 2);
        assert_eq!(elements(&doc, "polygon").len(), 2);
        let ticks: Vec<&str> = elements(&doc, "text").iter().filter_map(|t| t.text()).collect();
        assert!(!ticks.contains(&"0%"), "zero left out on request: {ticks:?}");
        assert!(ticks.contains(&"100%"), "{ticks:?}");
    }

    #[test]
    fn line_charts_include_zero_by_default() {
        let svg = LineChart::new(months(3), ValueFormat::Money)
            .series(Series::new("MRR", [10_000.0, 11_000.0, 12_000.0]))
            .to_svg();
        let doc = parse(&svg);
        assert!(elements(&doc, "text").iter().any(|t| t.text() == Some("$0")));
    }

    #[test]
    fn a_fixed_range_bands_and_a_reference_line() {
        // Health from 0 to 100 whatever the values, its bands shaded, a target drawn.
        let svg = LineChart::new(months(3), ValueFormat::Count)
            .range(0.0, 100.0)
            .band(Band {
                from: 0.0,
                to: 35.0,
                color: Color::VERMILLION,
                name: "urgent".into(),
            })
            .reference(70.0, "target 70")
            .series(Series::new("Health", [52.0, 55.0, 130.0]))
            .to_svg();
        let doc = parse(&svg);
        let texts: Vec<&str> = elements(&doc, "text").iter().filter_map(|t| t.text()).collect();
        assert!(texts.contains(&"100") && texts.contains(&"0"), "{texts:?}");
        assert!(
            !texts.contains(&"120") && !texts.contains(&"140"),
            "the range holds: {texts:?}"
        );
        assert!(texts.contains(&"urgent") && texts.contains(&"target 70"), "{texts:?}");
        assert_eq!(
            elements(&doc, "rect")
                .iter()
                .filter(|r| r.attribute("fill-opacity") == Some("0.12"))
                .count(),
            1
        );
        assert!(
            elements(&doc, "line")
                .iter()
                .any(|l| l.attribute("stroke-dasharray").is_some())
        );
        // A value outside the range sits on its edge.
        let ys: Vec<f64> = elements(&doc, "circle")
            .iter()
            .filter_map(|c| c.attribute("cy")?.parse().ok())
            .collect();
        assert!(ys[2] <= ys[0] && ys[2] <= ys[1], "{ys:?}");
    }

    #[test]
    fn bars_link_to_what_they_count() {
        let svg = StackedBarChart::new(months(2), ValueFormat::Money)
            .component(
                Series::new("New", [5.0, 0.0]).links([Some("/drill?a=1&b=2".to_string()), Some("/never".to_string())]),
            )
            .component(Series::new("Churn", [-3.0, -1.0]))
            .to_svg();
        let doc = parse(&svg);
        let links = elements(&doc, "a");
        assert_eq!(links.len(), 1, "a zero value draws no bar and no link");
        assert_eq!(
            links[0].attribute("href"),
            Some("/drill?a=1&b=2"),
            "escaped in the SVG, read back as written"
        );
        assert!(links[0].children().any(|c| c.has_tag_name("rect")));
        assert_eq!(
            doc.root_element().attribute("role"),
            Some("figure"),
            "its links stay reachable"
        );
        let bars = elements(&doc, "rect")
            .iter()
            .filter(|r| r.children().any(|c| c.has_tag_name("title")))
            .count();
        assert_eq!(bars, 3, "three bars");
    }

    #[test]
    fn a_single_value_is_a_labelled_point() {
        let svg = LineChart::new(["2026-12"], ValueFormat::Money)
            .series(Series::new("MRR", [4_200.0]))
            .to_svg();
        let doc = parse(&svg);
        assert!(elements(&doc, "polyline").is_empty(), "no line through one point");
        assert_eq!(elements(&doc, "circle")[0].attribute("r"), Some("5"));
        assert!(
            elements(&doc, "text").iter().any(|t| t.text() == Some("$4.2k")),
            "its value written"
        );
        let two = LineChart::new(months(2), ValueFormat::Money)
            .series(Series::new("MRR", [4_200.0, 4_300.0]))
            .to_svg();
        assert!(
            !parse(&two)
                .descendants()
                .any(|n| n.text() == Some("$4.2k") && n.has_tag_name("text"))
        );
    }

    #[test]
    fn legend_appears_for_two_or_more_series() {
        let legend = |svg: &str| {
            let doc = parse(svg);
            doc.descendants()
                .find(|n| n.attribute("class") == Some("legend"))
                .map(|g| {
                    g.children()
                        .filter_map(|c| c.text().map(str::to_string))
                        .collect::<Vec<_>>()
                })
        };
        let one = LineChart::new(months(3), ValueFormat::Count).series(Series::new("Users", [1.0, 2.0, 3.0]));
        assert_eq!(legend(&one.to_svg()), None);
        let two = one.series(Series::new("Events", [4.0, 5.0, 6.0]));
        assert_eq!(
            legend(&two.to_svg()),
            Some(vec!["Users".to_string(), "Events".to_string()])
        );
        assert_eq!(
            legend(&revenue_movements().to_svg()),
            Some(
                ["New", "Expansion", "Contraction", "Churn", "Net"]
                    .map(String::from)
                    .to_vec()
            )
        );
    }

    #[test]
    fn series_take_palette_colours_in_order_unless_pinned() {
        let svg = StackedBarChart::new(["a"], ValueFormat::Money)
            .component(Series::new("first", [1.0]))
            .component(Series::new("pinned", [2.0]).color(Color::rgb(1, 2, 3)))
            .component(Series::new("third", [3.0]))
            .to_svg();
        let doc = parse(&svg);
        let fills: Vec<&str> = elements(&doc, "rect")
            .into_iter()
            .filter(|r| hover_text(*r).is_some())
            .filter_map(|r| r.attribute("fill"))
            .collect();
        assert_eq!(
            fills,
            [Color::PALETTE[0].css(), "#010203".to_string(), Color::PALETTE[2].css()]
        );
    }

    #[test]
    fn many_x_labels_are_thinned_and_never_overlap() {
        let weeks: Vec<String> = (0..60).map(|i| format!("2025-W{i:02}-long")).collect();
        let values: Vec<f64> = (0..60).map(f64::from).collect();
        let svg = LineChart::new(weeks.clone(), ValueFormat::Count)
            .series(Series::new("Events", values))
            .to_svg();
        let shown = x_labels(&parse(&svg));
        assert!(shown.len() > 3 && shown.len() < 60, "{} labels", shown.len());
        for pair in shown.windows(2) {
            let needed = (text_width(&pair[0].0) + text_width(&pair[1].0)) / 2.0;
            assert!(pair[1].1 - pair[0].1 >= needed, "{pair:?} overlap");
        }
        assert_eq!(shown[0].0, weeks[0]);

        let few = LineChart::new(months(6), ValueFormat::Count).series(Series::new("Users", [1.0; 6]));
        assert_eq!(x_labels(&parse(&few.to_svg())).len(), 6);
    }

    #[test]
    fn monthly_labels_thin_to_calendar_steps() {
        assert_eq!(label_step(12, 50.0, 49.0), 2);
        assert_eq!(label_step(36, 18.0, 49.0), 4);
        assert_eq!(label_step(36, 12.0, 49.0), 6);
        assert_eq!(label_step(500, 1.2, 49.0), 50);
        assert_eq!(
            label_step(52, 12.0, 70.0),
            7,
            "weekly data keeps more labels than a yearly step would"
        );
        assert_eq!(label_step(3, 0.0, 49.0), 3);
    }

    #[test]
    fn long_labels_are_shortened_with_the_full_text_in_tooltips() {
        let label = "Customer Success and Professional Services";
        let svg = LineChart::new([label], ValueFormat::Count)
            .series(Series::new("Users", [3.0]))
            .to_svg();
        let doc = parse(&svg);
        assert_eq!(x_labels(&doc)[0].0.chars().count(), MAX_LABEL_CHARS);
        assert!(x_labels(&doc)[0].0.ends_with('…'));
        let hover: Vec<String> = elements(&doc, "circle").into_iter().filter_map(hover_text).collect();
        assert_eq!(hover, [format!("{label}: Users = 3")]);
    }

    #[test]
    fn horizontal_bars_grow_from_zero_in_order() {
        let svg = HorizontalBarChart::new("Active users", ValueFormat::Count)
            .bars([
                ("Engineering", Some(42.0)),
                ("Sales", Some(30.0)),
                ("Legal", None),
                ("Finance", Some(-5.0)),
            ])
            .to_svg();
        let doc = parse(&svg);
        let bars: Vec<(String, f64, f64, f64)> = elements(&doc, "rect")
            .into_iter()
            .filter_map(|r| Some((hover_text(r)?, attr(r, "x"), attr(r, "width"), attr(r, "y"))))
            .collect();
        let texts: Vec<&str> = bars.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Engineering: Active users = 42",
                "Sales: Active users = 30",
                "Finance: Active users = -5"
            ]
        );
        let (engineering, sales, finance) = (&bars[0], &bars[1], &bars[2]);
        assert_eq!(engineering.1, sales.1, "positive bars start at zero");
        assert!(engineering.2 > sales.2, "longer bar for the larger value");
        assert!(
            (finance.1 + finance.2 - engineering.1).abs() < 0.15,
            "negative bar ends at zero"
        );
        assert!(
            engineering.3 < sales.3 && sales.3 < finance.3,
            "top to bottom in input order"
        );
        let labels: Vec<&str> = elements(&doc, "text").iter().filter_map(|t| t.text()).collect();
        assert!(labels.contains(&"Legal") && labels.contains(&"n/a"), "{labels:?}");
    }

    #[test]
    fn every_chart_is_accessible_well_formed_and_deterministic() {
        let charts = [
            LineChart::new(months(24), ValueFormat::Money)
                .series(Series::new("MRR", (0..24).map(|i| 10_000.0 + 350.0 * f64::from(i))))
                .area(true)
                .title("MRR")
                .size(600, 240),
            LineChart::new(months(3), ValueFormat::Percent)
                .series(Series::new("NRR", [1.02, 1.04, 0.99]))
                .series(Series::new("GRR", [0.95, 0.97, 0.93])),
        ]
        .map(|c| (c.to_svg(), c.to_svg()));
        let stacked = (revenue_movements().to_svg(), revenue_movements().to_svg());
        let horizontal = HorizontalBarChart::new("Users", ValueFormat::Count).bars([("a", 1.0), ("b", 2.0)]);
        let horizontal = (horizontal.to_svg(), horizontal.to_svg());
        for (svg, again) in charts.iter().chain([&stacked, &horizontal]) {
            assert_eq!(svg, again);
            let doc = parse(svg);
            let root = doc.root_element();
            assert!(root.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
            assert_eq!(root.attribute("role"), Some("img"));
            assert_eq!(root.attribute("width"), Some("100%"));
            assert!(root.attribute("viewBox").is_some());
            let children: Vec<&str> = root.children().take(2).map(|c| c.tag_name().name()).collect();
            assert_eq!(children, ["title", "desc"]);
            let description = root.children().nth(1).and_then(|d| d.text()).unwrap_or_default();
            assert!(description.len() > 20, "{description}");
            for mark in elements(&doc, "rect").into_iter().chain(elements(&doc, "circle")) {
                let in_legend = mark.ancestors().any(|a| a.attribute("class") == Some("legend"));
                assert!(in_legend || hover_text(mark).is_some(), "{mark:?} has no hover text");
            }
            // Coordinates carry at most one decimal.
            for node in doc.descendants() {
                for name in ["x", "y", "width", "height", "cx", "cy", "y1", "y2", "x1", "x2"] {
                    if let Some(value) = node.attribute(name) {
                        let decimals = value.split('.').nth(1).map_or(0, str::len);
                        assert!(decimals <= 1, "{name}={value}");
                    }
                }
            }
        }
        assert_ne!(charts[0].0, charts[1].0);
    }

    #[test]
    fn the_viewbox_follows_the_requested_size() {
        let svg = LineChart::new(["a"], ValueFormat::Count)
            .series(Series::new("x", [1.0]))
            .size(500, 200)
            .to_svg();
        assert_eq!(parse(&svg).root_element().attribute("viewBox"), Some("0 0 500 200"));
        let default = LineChart::new(["a"], ValueFormat::Count)
            .series(Series::new("x", [1.0]))
            .to_svg();
        assert_eq!(parse(&default).root_element().attribute("viewBox"), Some("0 0 720 280"));
    }

    #[test]
    fn series_longer_than_the_labels_are_cut() {
        let svg = LineChart::new(["a", "b"], ValueFormat::Count)
            .series(Series::new("x", [1.0, 2.0, 3.0]))
            .to_svg();
        let doc = parse(&svg);
        assert_eq!(elements(&doc, "circle").len(), 2);
    }
}
