//! The fixed material the demo company is made of: the vendor, its price list and feature
//! catalogue, the customers' industries, countries and departments, outcome templates and
//! name lists.

/// The vendor: Skyline sells a secure networking and IT service platform, so that its
/// customers' outcomes (local internet breakout, ticket resolution time) fit its product.
/// Every domain is under `.example` (RFC 2606), so no demo address can reach a real person.
pub const VENDOR_NAME: &str = "Skyline Networks";
pub const VENDOR_DOMAIN: &str = "skyline.example";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    Smb,
    MidMarket,
    Enterprise,
}

impl Segment {
    pub fn name(self) -> &'static str {
        match self {
            Segment::Smb => "SMB",
            Segment::MidMarket => "Mid-Market",
            Segment::Enterprise => "Enterprise",
        }
    }

    /// Seats bought at land.
    pub fn seat_range(self) -> (u32, u32) {
        match self {
            Segment::Smb => (5, 25),
            Segment::MidMarket => (25, 200),
            Segment::Enterprise => (200, 2000),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plan {
    Starter,
    Professional,
    Enterprise,
}

impl Plan {
    pub fn name(self) -> &'static str {
        match self {
            Plan::Starter => "Starter",
            Plan::Professional => "Professional",
            Plan::Enterprise => "Enterprise",
        }
    }

    /// List price per seat and month, in whole currency units.
    pub fn seat_price(self) -> i64 {
        match self {
            Plan::Starter => 19,
            Plan::Professional => 39,
            Plan::Enterprise => 69,
        }
    }

    pub fn upgrade(self) -> Option<Plan> {
        match self {
            Plan::Starter => Some(Plan::Professional),
            Plan::Professional => Some(Plan::Enterprise),
            Plan::Enterprise => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddOn {
    AdvancedSecurity,
    Analytics,
    PremiumSupport,
}

impl AddOn {
    pub const ALL: [AddOn; 3] = [AddOn::AdvancedSecurity, AddOn::Analytics, AddOn::PremiumSupport];

    pub fn name(self) -> &'static str {
        match self {
            AddOn::AdvancedSecurity => "Advanced Security",
            AddOn::Analytics => "Analytics",
            AddOn::PremiumSupport => "Premium Support",
        }
    }

    /// List price per month: per seat, or flat for a package.
    pub fn price(self) -> (i64, Unit) {
        match self {
            AddOn::AdvancedSecurity => (9, Unit::Seats),
            AddOn::Analytics => (7, Unit::Seats),
            AddOn::PremiumSupport => (450, Unit::Package),
        }
    }

    pub fn bit(self) -> u8 {
        1 << self as u8
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seats,
    Package,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Seats => "seats",
            Unit::Package => "package",
        }
    }
}

/// What an event's value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    None,
    /// Minutes spent, 1 to the given maximum.
    Minutes(u32),
    /// Items processed, 1 to the given maximum.
    Count(u32),
}

pub struct Feature {
    pub key: &'static str,
    pub name: &'static str,
    pub value: ValueKind,
    /// The least plan that includes the feature.
    pub plan: Plan,
    /// The add-on the feature comes with, if any.
    pub add_on: Option<AddOn>,
    /// Noun used in support case subjects.
    pub area: &'static str,
}

const fn feature(key: &'static str, name: &'static str, value: ValueKind, plan: Plan, area: &'static str) -> Feature {
    Feature {
        key,
        name,
        value,
        plan,
        add_on: None,
        area,
    }
}

const fn add_on_feature(key: &'static str, name: &'static str, value: ValueKind, add_on: AddOn) -> Feature {
    Feature {
        key,
        name,
        value,
        plan: Plan::Starter,
        add_on: Some(add_on),
        area: add_on.name_const(),
    }
}

impl AddOn {
    const fn name_const(self) -> &'static str {
        match self {
            AddOn::AdvancedSecurity => "threat investigation",
            AddOn::Analytics => "insight reports",
            AddOn::PremiumSupport => "support portal",
        }
    }
}

/// The product's features, core first: every account starts with the first four.
pub const FEATURES: [Feature; 18] = [
    feature(
        "dashboard_viewed",
        "Dashboard viewed",
        ValueKind::Minutes(45),
        Plan::Starter,
        "dashboards",
    ),
    feature(
        "ticket_created",
        "Ticket created",
        ValueKind::None,
        Plan::Starter,
        "tickets",
    ),
    feature(
        "ticket_resolved",
        "Ticket resolved",
        ValueKind::Minutes(240),
        Plan::Starter,
        "tickets",
    ),
    feature(
        "site_configured",
        "Site configured",
        ValueKind::None,
        Plan::Starter,
        "site setup",
    ),
    feature(
        "report_exported",
        "Report exported",
        ValueKind::Count(20_000),
        Plan::Starter,
        "reports",
    ),
    feature(
        "alert_acknowledged",
        "Alert acknowledged",
        ValueKind::None,
        Plan::Starter,
        "alerts",
    ),
    feature(
        "knowledge_article_viewed",
        "Knowledge article viewed",
        ValueKind::Minutes(20),
        Plan::Starter,
        "knowledge base",
    ),
    feature(
        "mobile_session",
        "Mobile app session",
        ValueKind::Minutes(30),
        Plan::Starter,
        "the mobile app",
    ),
    feature(
        "asset_discovered",
        "Assets discovered",
        ValueKind::Count(500),
        Plan::Starter,
        "asset discovery",
    ),
    feature(
        "breakout_policy_applied",
        "Local breakout policy applied",
        ValueKind::Count(20),
        Plan::Professional,
        "breakout policies",
    ),
    feature(
        "workflow_run",
        "Workflow run",
        ValueKind::Count(5_000),
        Plan::Professional,
        "workflows",
    ),
    feature(
        "integration_synced",
        "Integration synced",
        ValueKind::Count(10_000),
        Plan::Professional,
        "integrations",
    ),
    feature(
        "change_approved",
        "Change request approved",
        ValueKind::None,
        Plan::Professional,
        "change requests",
    ),
    feature(
        "api_batch",
        "API batch call",
        ValueKind::Count(2_000),
        Plan::Enterprise,
        "the API",
    ),
    add_on_feature(
        "threat_investigated",
        "Threat investigated",
        ValueKind::Minutes(90),
        AddOn::AdvancedSecurity,
    ),
    add_on_feature(
        "policy_audit_run",
        "Security policy audit run",
        ValueKind::None,
        AddOn::AdvancedSecurity,
    ),
    add_on_feature(
        "insight_report_viewed",
        "Insight report viewed",
        ValueKind::Minutes(30),
        AddOn::Analytics,
    ),
    add_on_feature(
        "forecast_run",
        "Capacity forecast run",
        ValueKind::None,
        AddOn::Analytics,
    ),
];

/// Core features every account uses from the start, in [`FEATURES`] order.
pub const CORE_FEATURES: usize = 4;

pub const DEPARTMENTS: [&str; 10] = [
    "IT",
    "Engineering",
    "Operations",
    "Support",
    "Security",
    "Sales",
    "Finance",
    "Marketing",
    "HR",
    "Facilities",
];

/// Customer stakeholder teams, with the meeting kind of their cadence.
pub const STAKEHOLDER_TEAMS: [(&str, &str); 4] = [
    ("executive", "ebr"),
    ("network", "check_in"),
    ("security", "check_in"),
    ("application", "check_in"),
];

/// Agreed days between meetings with each stakeholder team (same order as
/// [`STAKEHOLDER_TEAMS`]; 0 = no cadence): executives quarterly or half-yearly,
/// the teams that run the product monthly.
pub fn cadence_days(segment: Segment) -> [u32; 4] {
    match segment {
        Segment::Enterprise => [90, 30, 60, 30],
        Segment::MidMarket => [180, 60, 90, 30],
        Segment::Smb => [0, 0, 0, 90],
    }
}

/// (country code, region, weight)
pub const COUNTRIES: [(&str, &str, f64); 16] = [
    ("US", "North America", 30.0),
    ("CA", "North America", 5.0),
    ("GB", "Europe", 10.0),
    ("DE", "Europe", 10.0),
    ("FR", "Europe", 6.0),
    ("NL", "Europe", 5.0),
    ("SE", "Europe", 3.0),
    ("ES", "Europe", 4.0),
    ("IT", "Europe", 3.0),
    ("IE", "Europe", 2.0),
    ("PL", "Europe", 2.0),
    ("AU", "Asia Pacific", 4.0),
    ("JP", "Asia Pacific", 3.0),
    ("SG", "Asia Pacific", 2.0),
    ("IN", "Asia Pacific", 4.0),
    ("BR", "Latin America", 3.0),
];

/// Account name stems; the second half of a name tells its industry.
pub const NAME_STEMS: [&str; 64] = [
    "Acorn",
    "Alder",
    "Amber",
    "Apex",
    "Arbor",
    "Aurora",
    "Beacon",
    "Birch",
    "Blue Harbor",
    "Bright",
    "Cascade",
    "Cedar",
    "Cobalt",
    "Coral",
    "Crescent",
    "Crown",
    "Delta",
    "Ember",
    "Evergreen",
    "Falcon",
    "Fjord",
    "Granite",
    "Harbor",
    "Highland",
    "Horizon",
    "Iron",
    "Juniper",
    "Keystone",
    "Lakeside",
    "Lantern",
    "Linden",
    "Lumen",
    "Maple",
    "Meridian",
    "Midland",
    "Nimbus",
    "North Star",
    "Oak",
    "Orchid",
    "Pacific",
    "Peak",
    "Pine",
    "Polar",
    "Prairie",
    "Quarry",
    "Redwood",
    "Ridge",
    "River",
    "Sable",
    "Sage",
    "Silver",
    "Solstice",
    "Spruce",
    "Stone",
    "Summit",
    "Sunrise",
    "Tidal",
    "Timber",
    "Trident",
    "Union",
    "Vale",
    "Vantage",
    "Willow",
    "Zenith",
];

/// (name ending, industry)
pub const NAME_ENDINGS: [(&str, &str); 40] = [
    ("Logistics", "Transportation"),
    ("Freight", "Transportation"),
    ("Airlines", "Transportation"),
    ("Health", "Healthcare"),
    ("Clinics", "Healthcare"),
    ("Medical", "Healthcare"),
    ("Bank", "Financial Services"),
    ("Capital", "Financial Services"),
    ("Insurance", "Financial Services"),
    ("Retail", "Retail"),
    ("Outfitters", "Retail"),
    ("Markets", "Retail"),
    ("Foods", "Food & Beverage"),
    ("Brewing", "Food & Beverage"),
    ("Energy", "Energy"),
    ("Power", "Energy"),
    ("Labs", "Technology"),
    ("Systems", "Technology"),
    ("Software", "Technology"),
    ("Analytics", "Technology"),
    ("Manufacturing", "Manufacturing"),
    ("Industries", "Manufacturing"),
    ("Motors", "Manufacturing"),
    ("Engineering", "Manufacturing"),
    ("Construction", "Construction"),
    ("Builders", "Construction"),
    ("Hotels", "Hospitality"),
    ("Resorts", "Hospitality"),
    ("University", "Education"),
    ("Academy", "Education"),
    ("Media", "Media"),
    ("Studios", "Media"),
    ("Telecom", "Telecommunications"),
    ("Networks", "Telecommunications"),
    ("Law", "Professional Services"),
    ("Consulting", "Professional Services"),
    ("Partners", "Professional Services"),
    ("Pharma", "Life Sciences"),
    ("Biotech", "Life Sciences"),
    ("Utilities", "Energy"),
];

/// Further variants once every stem and ending is taken (large demo companies).
pub const NAME_VARIANTS: [&str; 6] = ["", " Group", " Holdings", " International", " & Co", " Global"];

pub const FIRST_NAMES: [&str; 64] = [
    "Aisha",
    "Alejandro",
    "Amara",
    "Andrea",
    "Anna",
    "Arjun",
    "Astrid",
    "Ben",
    "Camille",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Diego",
    "Elena",
    "Emma",
    "Farah",
    "Felix",
    "Fatima",
    "Gabriel",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isabel",
    "Ivan",
    "James",
    "Jonas",
    "Julia",
    "Kai",
    "Kenji",
    "Laila",
    "Lars",
    "Leila",
    "Liam",
    "Lucas",
    "Maya",
    "Mateo",
    "Mei",
    "Mia",
    "Nadia",
    "Noah",
    "Nora",
    "Olivia",
    "Omar",
    "Oscar",
    "Priya",
    "Rafael",
    "Rania",
    "Ravi",
    "Sara",
    "Sofia",
    "Sven",
    "Tariq",
    "Thomas",
    "Tomas",
    "Valentina",
    "Victor",
    "Wei",
    "Yara",
    "Yusuf",
    "Zara",
    "Zoe",
    "Marta",
];

pub const LAST_NAMES: [&str; 64] = [
    "Abbott", "Adeyemi", "Andersen", "Bauer", "Becker", "Bianchi", "Brown", "Carter", "Chen", "Costa", "Dubois",
    "Eriksson", "Evans", "Fischer", "Garcia", "Gupta", "Hansen", "Hughes", "Ito", "Jansen", "Johnson", "Kaur", "Kim",
    "Kowalski", "Larsen", "Laurent", "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Murphy", "Nakamura", "Nguyen",
    "Novak", "Okafor", "Olsen", "Patel", "Perez", "Petrov", "Rossi", "Russo", "Santos", "Schmidt", "Silva", "Singh",
    "Smith", "Sousa", "Suzuki", "Tanaka", "Taylor", "Thompson", "Urban", "Vargas", "Vogel", "Walker", "Wang", "Weber",
    "Williams", "Wilson", "Wright", "Yilmaz", "Young", "Zhang",
];

/// Titles by stakeholder team (same order as [`STAKEHOLDER_TEAMS`]): the first is the
/// senior one.
pub const TITLES: [[&str; 3]; 4] = [
    [
        "Chief Information Officer",
        "VP Infrastructure",
        "Chief Operating Officer",
    ],
    [
        "Head of Network Engineering",
        "Network Engineer",
        "Network Operations Lead",
    ],
    [
        "Chief Information Security Officer",
        "Security Architect",
        "Security Analyst",
    ],
    [
        "Head of IT Applications",
        "IT Service Manager",
        "Application Administrator",
    ],
];

pub struct OutcomeTemplate {
    pub name: &'static str,
    pub unit: &'static str,
    pub baseline: (f64, f64),
    pub target: (f64, f64),
    /// Months from start to target date.
    pub months: (u32, u32),
}

pub const OUTCOMES: [OutcomeTemplate; 8] = [
    OutcomeTemplate {
        name: "Share of offices with local internet breakout",
        unit: "%",
        baseline: (5.0, 30.0),
        target: (70.0, 95.0),
        months: (9, 18),
    },
    OutcomeTemplate {
        name: "Ticket resolution time",
        unit: "hours",
        baseline: (24.0, 72.0),
        target: (6.0, 16.0),
        months: (6, 12),
    },
    OutcomeTemplate {
        name: "Incidents resolved without escalation",
        unit: "%",
        baseline: (35.0, 60.0),
        target: (75.0, 90.0),
        months: (6, 12),
    },
    OutcomeTemplate {
        name: "Mean time to detect security threats",
        unit: "hours",
        baseline: (48.0, 120.0),
        target: (4.0, 12.0),
        months: (9, 15),
    },
    OutcomeTemplate {
        name: "New office go-live time",
        unit: "days",
        baseline: (30.0, 60.0),
        target: (5.0, 10.0),
        months: (9, 18),
    },
    OutcomeTemplate {
        name: "Self-service resolution rate",
        unit: "%",
        baseline: (10.0, 25.0),
        target: (40.0, 60.0),
        months: (6, 12),
    },
    OutcomeTemplate {
        name: "Monthly network downtime",
        unit: "minutes",
        baseline: (300.0, 900.0),
        target: (30.0, 90.0),
        months: (6, 15),
    },
    OutcomeTemplate {
        name: "Manual network changes per month",
        unit: "changes",
        baseline: (200.0, 600.0),
        target: (20.0, 80.0),
        months: (9, 18),
    },
];

/// Support case subjects: `{area}` is a feature's area.
pub const HOW_TO_SUBJECTS: [&str; 5] = [
    "How do I set up {area} for a new team?",
    "How can we export data from {area}?",
    "Where do I find the settings for {area}?",
    "How do permissions work in {area}?",
    "Best way to roll out {area} to another office?",
];
pub const DEFECT_SUBJECTS: [&str; 5] = [
    "Error when saving changes in {area}",
    "{area}: page does not load",
    "Data missing in {area} since the last update",
    "Sync failure affecting {area}",
    "Slow response times in {area}",
];
pub const QUESTION_SUBJECTS: [&str; 3] = [
    "Question about licensing and seats",
    "Which regions host our data?",
    "Invoice question for this quarter",
];
pub const FEATURE_REQUEST_SUBJECTS: [&str; 3] = [
    "Request: bulk edit in {area}",
    "Request: more filters in {area}",
    "Request: webhook for {area}",
];
