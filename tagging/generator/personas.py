"""Static definitions of the synthetic shop: personas, catalogue, planted rules and vocabularies.

Everything here is plain data read by the `tagging.generator*` modules; changing a number here
changes the generated shop (and its truth files) but never the generator's code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

# fmt: off
# Hand-laid tables (a persona or category per block, many values a line) read better than
# the formatter's one value per line.

EVENT_TYPES = ("view", "click", "search", "add_to_cart", "order", "pay", "share", "review")
VIEW, CLICK, SEARCH, CART, ORDER, PAY, SHARE, REVIEW = range(8)
# Event types a browse session draws from, in the column order of Persona.browse_types.
BROWSE_TYPES = (VIEW, CLICK, SEARCH, CART, SHARE)
PLATFORMS = ("app", "web", "mini_program")
PAY_METHODS = ("alipay", "wechat", "card", "cod")
MEMBER_LEVELS = ("bronze", "silver", "gold", "platinum")
CHANNELS = ("organic", "ads", "referral", "social")
CHANNEL_P = (0.4, 0.3, 0.15, 0.15)


@dataclass(frozen=True)
class Persona:
    """Behaviour profile of one customer segment; tuples of weights need not sum to 1."""

    name: str
    share: float
    age: tuple[int, int]  # inclusive range of the true age at `end`
    p_female: float
    orders: tuple[int, int]  # inclusive range of orders per 365 days
    order_hour: int  # first hour (UTC) of the order window
    order_hours: int  # window length in hours; may run past midnight
    weekend_only: bool
    categories: tuple[tuple[str, float], ...]
    tier: str  # any | cheap (bottom price third) | brand (one favourite brand)
    items_per_order: tuple[float, float, float, float]  # 1, 2, 3, 4 items
    quantity: tuple[float, float, float]  # 1, 2, 3 units per line
    coupon_p: float
    discount_pct: tuple[int, int]  # inclusive range of the coupon's percent of gross
    platforms: tuple[float, float, float]  # app, web, mini_program of the main device
    pay: tuple[float, float, float, float]  # alipay, wechat, card, cod
    members: tuple[float, float, float, float]  # bronze, silver, gold, platinum
    browse_per_year: float  # browse sessions (no order) per 365 days
    browse_len: float  # mean events per browse session
    browse_types: tuple[float, float, float, float, float]  # view, click, search, cart, share
    purchase_search_p: float  # chance a purchase session starts with a search
    lapsed: bool = False


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "young_parent", 0.18, (25, 34), 0.65, (4, 10), 18, 4, False,
        (("baby", 0.86), ("toys", 0.14)), "any",
        (0.40, 0.30, 0.20, 0.10), (0.60, 0.30, 0.10), 0.12, (5, 12),
        (0.85, 0.05, 0.10), (0.45, 0.45, 0.08, 0.02), (0.45, 0.35, 0.17, 0.03),
        1.5, 4.0, (0.55, 0.20, 0.12, 0.08, 0.05), 0.20,
    ),
    Persona(
        "outdoor_enthusiast", 0.15, (25, 49), 0.35, (3, 8), 8, 8, True,
        (("outdoor", 0.60), ("sports", 0.40)), "any",
        (0.45, 0.30, 0.15, 0.10), (0.85, 0.12, 0.03), 0.08, (5, 10),
        (0.15, 0.75, 0.10), (0.40, 0.30, 0.28, 0.02), (0.35, 0.40, 0.20, 0.05),
        1.5, 4.0, (0.55, 0.20, 0.15, 0.07, 0.03), 0.20,
    ),
    Persona(
        "bargain_hunter", 0.18, (20, 59), 0.60, (8, 16), 8, 4, False,
        (("food", 0.30), ("home", 0.25), ("fashion", 0.20), ("beauty", 0.25)), "cheap",
        (0.35, 0.35, 0.20, 0.10), (0.60, 0.30, 0.10), 0.92, (16, 39),
        (0.40, 0.25, 0.35), (0.45, 0.45, 0.05, 0.05), (0.60, 0.30, 0.09, 0.01),
        2.0, 5.0, (0.35, 0.15, 0.40, 0.08, 0.02), 0.85,
    ),
    Persona(
        "brand_loyal_high_value", 0.12, (30, 54), 0.50, (6, 14), 12, 6, False,
        (("electronics", 0.40), ("beauty", 0.30), ("fashion", 0.30)), "brand",
        (0.55, 0.30, 0.10, 0.05), (0.92, 0.07, 0.01), 0.04, (5, 10),
        (0.50, 0.40, 0.10), (0.25, 0.15, 0.58, 0.02), (0.0, 0.0, 0.55, 0.45),
        1.5, 4.0, (0.60, 0.20, 0.10, 0.07, 0.03), 0.20,
    ),
    Persona(
        "night_impulse", 0.15, (18, 29), 0.50, (3, 8), 23, 4, False,
        (("electronics", 0.30), ("fashion", 0.35), ("toys", 0.35)), "any",
        (0.40, 0.30, 0.20, 0.10), (0.85, 0.12, 0.03), 0.20, (5, 12),
        (0.35, 0.05, 0.60), (0.35, 0.60, 0.05, 0.0), (0.55, 0.35, 0.09, 0.01),
        3.5, 6.0, (0.35, 0.12, 0.06, 0.45, 0.02), 0.15,
    ),
    Persona(
        "lapsed", 0.22, (18, 64), 0.50, (2, 6), 8, 15, False,
        (
            ("baby", 1.0), ("toys", 1.0), ("outdoor", 1.0), ("sports", 1.0),
            ("electronics", 0.3), ("beauty", 1.0), ("fashion", 1.0), ("home", 1.0),
            ("food", 1.0), ("books", 1.0), ("pets", 1.0),
        ),
        "any",
        (0.50, 0.30, 0.15, 0.05), (0.80, 0.15, 0.05), 0.25, (5, 15),
        (0.40, 0.35, 0.25), (0.35, 0.35, 0.15, 0.15), (0.60, 0.30, 0.09, 0.01),
        1.0, 4.0, (0.60, 0.20, 0.12, 0.06, 0.02), 0.20, lapsed=True,
    ),
)


@dataclass(frozen=True)
class Category:
    """A product category: typical price in yuan and the nouns its item names use."""

    name: str
    base_price: float
    nouns: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("baby", 60.0, ("wipes", "stroller", "baby_bottle", "onesie", "pacifier",
                            "baby_carrier", "crib_sheet", "teether", "bib", "baby_lotion")),
    Category("toys", 60.0, ("building_blocks", "puzzle", "doll", "rc_car", "plush_toy",
                            "board_game", "toy_train", "kite")),
    Category("outdoor", 260.0, ("hiking_backpack", "trekking_poles", "headlamp", "camping_stove",
                                "water_filter", "hiking_boots", "rain_jacket", "camping_chair")),
    Category("sports", 160.0, ("yoga_mat", "running_shoes", "dumbbells", "basketball",
                               "tennis_racket", "cycling_helmet", "sports_watch", "jump_rope")),
    Category("electronics", 900.0, ("earbuds", "charger", "laptop", "tablet", "smartwatch",
                                    "power_bank", "bluetooth_speaker", "monitor")),
    Category("beauty", 130.0, ("face_cream", "serum", "sunscreen", "shampoo", "perfume",
                               "eye_shadow", "face_mask", "hand_cream")),
    Category("fashion", 180.0, ("t_shirt", "jeans", "dress", "sneakers", "jacket", "handbag",
                                "scarf", "sunglasses")),
    Category("home", 110.0, ("pillow", "bed_sheet", "storage_box", "desk_lamp", "towel",
                             "cookware_set", "vacuum", "kettle")),
    Category("food", 35.0, ("coffee_beans", "snacks", "rice", "olive_oil", "green_tea",
                            "chocolate", "instant_noodles", "mixed_nuts")),
    Category("books", 45.0, ("novel", "cookbook", "children_book", "textbook", "comic",
                             "travel_guide")),
    Category("pets", 70.0, ("dog_food", "cat_food", "cat_litter", "pet_toy", "pet_bed",
                            "leash")),
)
N_ITEMS = 2_000


@dataclass(frozen=True)
class PlantedRule:
    """Orders holding `antecedent` get `consequent` added with probability `p_add`."""

    category: str
    antecedent: str
    consequent: str
    antecedent_price: float
    consequent_price: float
    p_add: float


# The nouns here are used by no other item, so each names exactly one product.
RULES: tuple[PlantedRule, ...] = (
    PlantedRule("baby", "formula", "diapers", 129.0, 69.0, 0.65),
    PlantedRule("outdoor", "tent", "sleeping_bag", 599.0, 299.0, 0.65),
    PlantedRule("electronics", "phone", "phone_case", 3999.0, 49.0, 0.65),
    PlantedRule("beauty", "lipstick", "makeup_remover", 39.9, 29.9, 0.65),
)

BRAND_HEADS = (
    "aero", "alto", "bright", "cedar", "coral", "echo", "ember", "fern", "glow", "halo", "iris",
    "jade", "kite", "luna", "maple", "nimbus", "onyx", "pine", "quill", "river", "sage", "terra",
    "umbra", "vela", "willow", "zen",
)
BRAND_TAILS = (
    "works", "labs", "co", "home", "wear", "tech", "kids", "life", "goods", "craft", "line",
    "mark",
)
QUERY_TEMPLATES = ("{}", "cheap {}", "best {}", "{} sale", "{} review")

CITIES: tuple[tuple[str, str], ...] = (
    ("Shanghai", "East China"), ("Hangzhou", "East China"), ("Nanjing", "East China"),
    ("Suzhou", "East China"), ("Beijing", "North China"), ("Tianjin", "North China"),
    ("Shijiazhuang", "North China"), ("Guangzhou", "South China"), ("Shenzhen", "South China"),
    ("Xiamen", "South China"), ("Chengdu", "Southwest"), ("Chongqing", "Southwest"),
    ("Kunming", "Southwest"), ("Shenyang", "Northeast"), ("Harbin", "Northeast"),
    ("Wuhan", "Central China"), ("Changsha", "Central China"), ("Xi'an", "Northwest"),
)
CITY_P = (9, 5, 4, 4, 8, 3, 2, 6, 7, 2, 5, 4, 2, 2, 2, 4, 3, 3)
OCCUPATIONS = (
    "engineer", "teacher", "student", "doctor", "sales", "designer", "civil_servant",
    "freelancer", "manager", "worker", "retired",
)

_CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
_EDGE_WIN = _CHROME_WIN + " Edg/120.0.2210.91"
_FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
_SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)
_CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
_IPHONES = ("iPhone 13", "iPhone 14", "iPhone 15", "iPhone 15 Pro")
_ANDROIDS = ("HUAWEI Mate 60", "Xiaomi 14", "OPPO Reno11", "vivo X100", "Redmi K70", "HONOR 100")


def _mobile_profiles() -> list[tuple[str, str, str, str]]:
    app_ios = "PortraitShop/6.3.1 (iPhone; iOS 17.5; Scale/3.00)"
    mini_ios = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49 miniProgram"
    )
    out = [("app", "ios", m, app_ios) for m in _IPHONES]
    out += [("mini_program", "ios", m, mini_ios) for m in _IPHONES]
    for model in _ANDROIDS:
        out.append(("app", "android", model, f"PortraitShop/6.3.1 (Linux; Android 14; {model})"))
        out.append((
            "mini_program", "android", model,
            f"Mozilla/5.0 (Linux; Android 14; {model}) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.230 Mobile Safari/537.36 MicroMessenger/8.0.49 miniProgram",
        ))
    return out


# (platform, os, device_model, user_agent); people's devices and rate bots use these.
DEVICE_PROFILES: tuple[tuple[str, str, str, str], ...] = (
    *_mobile_profiles(),
    ("web", "windows", "PC", _CHROME_WIN), ("web", "windows", "PC", _EDGE_WIN),
    ("web", "windows", "PC", _FIREFOX_WIN), ("web", "macos", "Mac", _SAFARI_MAC),
    ("web", "macos", "Mac", _CHROME_MAC),
)
# Crawlers announce themselves in the user agent; a downstream filter matches these.
BOT_PROFILES: tuple[tuple[str, str, str, str], ...] = (
    ("web", "windows", "PC", "python-requests/2.31"),
    ("web", "macos", "Mac", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("web", "windows", "PC", "Scrapy/2.11"),
    ("web", "macos", "Mac", "curl/8.4.0"),
    ("web", "windows", "PC",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0.6099.109 Safari/537.36"),
)
# First octets of home / mobile networks and of data centres (bots).
HOME_NETS = (36, 58, 59, 60, 61, 101, 106, 112, 113, 114, 115, 116, 117, 119, 120, 121, 122,
             123, 124, 125, 180, 182, 183, 218, 219, 220, 221, 222, 223)
CLOUD_NETS = (34, 35, 47, 52, 54, 104, 139, 159)
