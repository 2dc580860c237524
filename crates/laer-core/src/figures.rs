//! Figures that several pages show, each defined once: the account page's tiles, the
//! success plan (the customer's view too), the health signals and drivers, tasks and the
//! API all take them from here, so that one account shows one number everywhere.
//! Definitions: docs/metrics.md, "Figures shown on several pages".

/// Units that count seats (case-insensitive).
const SEAT_UNITS: &[&str] = &[
    "seat", "seats", "user", "users", "licence", "licences", "license", "licenses",
];

/// Whether a subscription line's unit counts seats (seats, users, licences).
pub fn counts_seats(units: &str) -> bool {
    SEAT_UNITS.iter().any(|s| s.eq_ignore_ascii_case(units.trim()))
}

/// A running subscription line, as far as seats go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeatLine<'a> {
    pub product: &'a str,
    pub quantity: Option<f64>,
    pub units: Option<&'a str>,
}

/// Seats bought: of the running lines counted in seats, the quantities of each product
/// add up, and the account's seats are those of the product with the most. Add-ons
/// priced per seat are bought for the same people as the product they add to, so three
/// lines of 102 seats each (a product and two add-ons) are 102 seats, not 306; a second
/// line of the same product (30 seats bought on top of 50) adds up to 80. `None` when no
/// running line is counted in seats.
pub fn seats<'a>(running: impl IntoIterator<Item = SeatLine<'a>>) -> Option<f64> {
    let mut per_product: Vec<(&str, f64)> = Vec::new();
    for line in running {
        let (Some(quantity), Some(units)) = (line.quantity, line.units) else {
            continue;
        };
        if !counts_seats(units) {
            continue;
        }
        match per_product.iter_mut().find(|(p, _)| *p == line.product) {
            Some((_, sum)) => *sum += quantity,
            None => per_product.push((line.product, quantity)),
        }
    }
    per_product.into_iter().map(|(_, sum)| sum).reduce(f64::max)
}

/// Licence utilisation: active users over seats bought; `None` without seats.
pub fn utilisation(active_users: u32, seats: Option<f64>) -> Option<f64> {
    seats.filter(|s| *s > 0.0).map(|s| f64::from(active_users) / s)
}

/// Net Promoter Score of survey answers 0–10: the percentage of promoters (9–10) minus
/// the percentage of detractors (0–6), −100 to 100; `None` without answers. Which answers
/// count (the health model's experience window) is the caller's to say, and to show.
pub fn nps(scores: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut answers, mut promoters, mut detractors) = (0_u32, 0_u32, 0_u32);
    for score in scores {
        answers += 1;
        if score >= 9.0 {
            promoters += 1;
        } else if score <= 6.0 {
            detractors += 1;
        }
    }
    (answers > 0).then(|| (f64::from(promoters) - f64::from(detractors)) / f64::from(answers) * 100.0)
}

/// The figures an account's pages show beside its health, as of one day, with the
/// windows they count over, so that each is shown with its window
/// ([`crate::health::Assessment::figures`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AccountFigures {
    /// Distinct users active in the `usage_days` ending that day.
    pub active_users: Option<f64>,
    pub usage_days: u32,
    /// Seats bought ([`seats`]).
    pub seats: Option<f64>,
    /// Active users over seats ([`utilisation`]).
    pub utilisation: Option<f64>,
    /// NPS of the answers in the `experience_days` ending that day ([`nps`]).
    pub nps: Option<f64>,
    pub experience_days: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line<'a>(product: &'a str, quantity: f64, units: &'a str) -> SeatLine<'a> {
        SeatLine {
            product,
            quantity: Some(quantity),
            units: Some(units),
        }
    }

    #[test]
    fn add_ons_per_seat_do_not_multiply_the_seats() {
        let lines = [
            line("Enterprise", 102.0, "seats"),
            line("Analytics", 102.0, "seats"),
            line("Premium Support", 1.0, "package"),
            line("Advanced Security", 102.0, "Seats"),
        ];
        assert_eq!(seats(lines), Some(102.0));
        assert_eq!(utilisation(80, seats(lines)), Some(80.0 / 102.0));
    }

    #[test]
    fn lines_of_one_product_add_up() {
        let lines = [
            line("Core", 50.0, "users"),
            line("Core", 30.0, "users"),
            line("Add-on", 50.0, "seats"),
        ];
        assert_eq!(seats(lines), Some(80.0));
    }

    #[test]
    fn lines_not_in_seats_are_no_seats() {
        assert_eq!(seats([line("Core", 3.0, "packages")]), None);
        assert_eq!(utilisation(5, None), None);
        assert_eq!(utilisation(5, Some(0.0)), None);
    }

    #[test]
    fn nps_by_hand() {
        // 2 promoters, 1 passive, 2 detractors of 5: 40% − 40%.
        assert_eq!(nps([10.0, 9.0, 8.0, 6.0, 0.0]), Some(0.0));
        assert!((nps([10.0, 10.0, 3.0]).unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(nps([]), None);
    }

    proptest! {
        #[test]
        fn nps_is_between_minus_and_plus_100(scores in proptest::collection::vec(0u8..=10, 1..50)) {
            let n = nps(scores.iter().map(|s| f64::from(*s))).unwrap();
            prop_assert!((-100.0..=100.0).contains(&n));
        }

        #[test]
        fn seats_are_at_least_any_products_and_at_most_all(quantities in proptest::collection::vec((0usize..3, 1u32..500), 1..8)) {
            let products = ["a", "b", "c"];
            let lines: Vec<SeatLine> = quantities.iter().map(|(p, q)| line(products[*p], f64::from(*q), "seats")).collect();
            let s = seats(lines.iter().copied()).unwrap();
            let total: f64 = lines.iter().filter_map(|l| l.quantity).sum();
            prop_assert!(s <= total);
            for p in products {
                let of_p: f64 = lines.iter().filter(|l| l.product == p).filter_map(|l| l.quantity).sum();
                prop_assert!(s >= of_p);
            }
        }
    }
}
