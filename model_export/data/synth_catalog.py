"""Vocabulary of the synthetic ad platform: verticals, their fine topics and topic wording.

Each vertical (the coarse ``category`` an ad carries) holds several fine topics. A topic's
wording appears only in text: ``products`` name what its ads sell, ``subjects`` name what its
content items (articles, videos, product pages) are about. Wording is chosen so topics of
one vertical read differently ("trail running shoes" vs "yoga mat"), since the click truth
depends on the fine topic while the category field reveals only the vertical.
"""

from typing import NamedTuple


class Topic(NamedTuple):
    """Wording of one fine topic: ad products and content subjects (noun phrases)."""

    products: tuple[str, ...]
    subjects: tuple[str, ...]


def _t(products: str, subjects: str) -> Topic:
    """A topic from two ``|``-separated lists."""
    return Topic(tuple(products.split("|")), tuple(subjects.split("|")))


VERTICALS: dict[str, dict[str, Topic]] = {
    "Travel": {
        "beach holidays": _t(
            "all-inclusive beach resort|Caribbean beach getaway|seaside villa rental",
            "hidden beaches|snorkeling spots|family beach resorts|turquoise lagoons",
        ),
        "ski trips": _t(
            "ski chalet package|season lift pass|ski and snowboard rental",
            "ski resorts|off-piste runs|apres-ski villages|powder days",
        ),
        "city breaks": _t(
            "weekend city break|boutique hotel in the old town|city museum pass",
            "rooftop bars|old town walking tours|art museums|weekend city itineraries",
        ),
        "cruises": _t(
            "Mediterranean cruise|river cruise cabin|Alaska cruise with balcony",
            "cruise ship cabins|cruise ports|shore excursions|life on a cruise ship",
        ),
        "camper van road trips": _t(
            "camper van rental|rooftop tent|RV campground pass",
            "camper van routes|coastal road trips|van life|campgrounds with a view",
        ),
        "backpacking": _t(
            "hostel dorm bed|round-the-world ticket|carry-on travel backpack",
            "hostels|budget backpacking routes|night trains|solo travel on a shoestring",
        ),
    },
    "Fashion": {
        "sneakers": _t(
            "limited-edition sneakers|retro basketball sneakers|white leather sneakers",
            "sneaker drops|sneaker cleaning|sneaker collections|rare sneakers",
        ),
        "watches": _t(
            "automatic dive watch|minimalist wristwatch|chronograph watch",
            "mechanical watches|watch straps|vintage watch collecting|dive watches",
        ),
        "handbags": _t(
            "leather tote bag|crossbody handbag|designer clutch",
            "designer handbags|tote bags|handbag care|it-bags of the season",
        ),
        "denim": _t(
            "slim-fit jeans|raw selvedge denim|denim jacket",
            "jeans fits|selvedge denim|fading raw denim|denim jackets",
        ),
        "jewelry": _t(
            "gold hoop earrings|silver pendant necklace|diamond engagement ring",
            "engagement rings|gold jewelry|layered necklaces|gemstones",
        ),
        "winter coats": _t(
            "down parka|wool overcoat|insulated puffer jacket",
            "winter coats|down jackets|layering for cold weather|parkas",
        ),
    },
    "Sports & Outdoors": {
        "trail running": _t(
            "trail running shoes|trail running hydration vest|trail running poles",
            "trail running routes|ultramarathon training|downhill trail running technique"
            "|mountain trail races",
        ),
        "yoga": _t(
            "non-slip yoga mat|cork yoga block set|high-waisted yoga leggings",
            "yoga flows|yoga poses for back pain|yoga retreats|vinyasa yoga sequences",
        ),
        "cycling": _t(
            "carbon road bike|aero cycling helmet|GPS bike computer",
            "cycling climbs|bike maintenance|group cycling rides|road bike gearing",
        ),
        "tennis": _t(
            "graphite tennis racket|pressurized tennis balls|clay court tennis shoes",
            "tennis serve drills|Grand Slam tennis matches|tennis strings|backhand technique",
        ),
        "golf": _t(
            "titanium golf driver|tour golf balls|laser golf rangefinder",
            "golf courses|golf swing fixes|putting drills|links golf",
        ),
        "fishing": _t(
            "fly fishing rod|fishing tackle box|breathable fishing waders",
            "fly fishing rivers|trout lures|fishing knots|bass fishing",
        ),
    },
    "Finance": {
        "credit cards": _t(
            "cashback credit card|travel rewards credit card|no-fee credit card",
            "credit card rewards|credit scores|balance transfers|credit card points",
        ),
        "mortgages": _t(
            "fixed-rate mortgage|mortgage refinance|first-home mortgage",
            "mortgage rates|down payments|mortgage pre-approval|refinancing a home loan",
        ),
        "investing": _t(
            "index fund account|robo-advisor portfolio|commission-free stock trading app",
            "index funds|dividend stocks|portfolio rebalancing|the stock market",
        ),
        "crypto": _t(
            "crypto exchange account|hardware crypto wallet|bitcoin savings plan",
            "bitcoin price swings|crypto wallets|altcoins|blockchain tokens",
        ),
        "life insurance": _t(
            "term life insurance|family life insurance plan|whole life insurance policy",
            "life insurance policies|choosing beneficiaries|term vs whole life insurance",
        ),
        "tax filing": _t(
            "online tax filing software|tax preparation service|self-employed tax bundle",
            "tax deductions|tax refunds|tax filing deadlines|taxes for freelancers",
        ),
    },
    "Gaming": {
        "fantasy RPGs": _t(
            "open-world fantasy RPG|RPG collector's edition|fantasy RPG expansion",
            "RPG boss fights|RPG character builds|fantasy RPG lore|dungeon crawlers",
        ),
        "shooters": _t(
            "tactical shooter game|battle royale season pass|shooter weapon skin bundle",
            "shooter loadouts|aim training|battle royale strategies|sniper tactics",
        ),
        "sim racing": _t(
            "force feedback racing wheel|sim racing cockpit|racing simulator game",
            "sim racing setups|racing lines|lap time tricks|racing simulator leagues",
        ),
        "strategy games": _t(
            "grand strategy game|real-time strategy expansion|4X strategy game",
            "strategy game build orders|grand strategy campaigns|empire building",
        ),
        "puzzle games": _t(
            "match-3 puzzle game|daily crossword app|brain teaser puzzle pack",
            "puzzle game levels|brain teasers|crossword solving|logic puzzles",
        ),
        "retro gaming": _t(
            "retro handheld console|arcade cabinet|8-bit classic game collection",
            "retro consoles|8-bit classics|arcade machines|game emulation",
        ),
    },
    "Food Delivery": {
        "pizza": _t(
            "wood-fired pizza delivery|family pizza bundle|pepperoni pizza deal",
            "pizza dough|neighborhood pizzerias|pizza toppings|Neapolitan pizza",
        ),
        "sushi": _t(
            "sushi platter delivery|salmon poke bowl|sushi party box",
            "sushi rolls|sushi restaurants|sashimi|making sushi rice",
        ),
        "vegan meals": _t(
            "vegan meal box|plant-based burger|vegan curry bowl",
            "vegan recipes|plant-based protein|going vegan|tofu dishes",
        ),
        "burgers": _t(
            "smash burger combo|double cheeseburger meal|burger and fries deal",
            "burger joints|smash burgers|burger sauces|grilling burgers",
        ),
        "coffee": _t(
            "specialty coffee subscription|single-origin coffee beans|cold brew coffee pack",
            "coffee brewing methods|espresso shots|coffee roasters|latte art",
        ),
        "meal kits": _t(
            "weekly meal kit|family dinner kit|15-minute meal kit",
            "weeknight dinner ideas|meal prep|one-pan dinners|cooking for the week",
        ),
    },
    "Electronics": {
        "smartphones": _t(
            "5G smartphone|smartphone with a triple camera|foldable smartphone",
            "smartphone cameras|phone battery life|smartphone launches|Android vs iPhone",
        ),
        "laptops": _t(
            "ultralight laptop|14-inch laptop|2-in-1 convertible laptop",
            "laptops for students|laptop battery life|laptop keyboards|thin laptops",
        ),
        "headphones": _t(
            "noise-cancelling headphones|wireless earbuds|studio headphones",
            "noise cancelling|wireless earbuds|headphone sound quality|audiophile headphones",
        ),
        "cameras": _t(
            "mirrorless camera|telephoto lens|carbon camera tripod",
            "photography tips|camera lenses|night photography|mirrorless cameras",
        ),
        "TVs": _t(
            "65-inch OLED TV|4K home projector|Dolby Atmos soundbar",
            "OLED TVs|home theater setups|TV picture settings|projectors",
        ),
        "drones": _t(
            "4K camera drone|FPV drone kit|foldable mini drone",
            "drone footage|drone regulations|FPV drone racing|aerial photography",
        ),
    },
    "Home & Garden": {
        "vegetable gardening": _t(
            "raised garden bed|heirloom tomato seeds|backyard compost bin",
            "vegetable gardening|growing tomatoes|composting|vegetable seedlings",
        ),
        "houseplants": _t(
            "potted monstera plant|self-watering planter|indoor plant grow light",
            "houseplants|low-light plants|repotting plants|fiddle leaf figs",
        ),
        "sofas": _t(
            "modular sofa|velvet armchair|sleeper sofa",
            "living room layouts|sofas|sectional couches|cozy reading nooks",
        ),
        "cookware": _t(
            "cast iron skillet|nonstick cookware set|Japanese chef's knife",
            "cast iron care|knife sharpening|nonstick pans|kitchen knives",
        ),
        "mattresses": _t(
            "memory foam mattress|linen bedding set|hybrid mattress",
            "mattresses|bedding|firm vs soft mattresses|duvet covers",
        ),
        "power tools": _t(
            "cordless drill|circular saw|power tool combo kit",
            "DIY woodworking projects|power tools|building shelves|drilling into concrete",
        ),
    },
    "Beauty": {
        "skincare": _t(
            "vitamin C serum|retinol night cream|SPF 50 sunscreen",
            "skincare routines|acne treatments|anti-aging serums|sunscreen",
        ),
        "makeup": _t(
            "matte lipstick|long-wear foundation|eyeshadow palette",
            "makeup tutorials|contouring|lipstick shades|eyeliner looks",
        ),
        "haircare": _t(
            "argan oil shampoo|ionic hair dryer|curl defining cream",
            "curly hair routines|hair masks|frizz control|heatless curls",
        ),
        "fragrance": _t(
            "eau de parfum|cologne gift set|travel perfume atomizer",
            "perfume notes|signature scents|niche fragrances|colognes",
        ),
        "nail care": _t(
            "gel nail polish kit|press-on nails|nail art pen set",
            "nail art designs|gel manicures|nail care|nail polish trends",
        ),
        "beard grooming": _t(
            "beard trimmer|beard oil|double-edge safety razor",
            "beard styles|wet shaving|beard growth|beard trimming",
        ),
    },
    "Auto": {
        "electric cars": _t(
            "electric SUV test drive|home EV charger|electric hatchback lease",
            "EV charging|electric car range|electric vehicles|EV road trips",
        ),
        "pickup trucks": _t(
            "full-size pickup truck|truck bed cover|heavy-duty tow hitch",
            "towing capacity|pickup trucks|off-road trucks|truck accessories",
        ),
        "motorcycles": _t(
            "sport motorcycle|full-face motorcycle helmet|motorcycle riding jacket",
            "motorcycle touring routes|motorcycle gear|cornering on a motorbike|cafe racers",
        ),
        "tires": _t(
            "all-season tires|winter tires|run-flat tires",
            "tire pressure|tire tread wear|winter tires|tire rotation",
        ),
        "car detailing": _t(
            "ceramic coating kit|car wash subscription|car detailing clay bar",
            "car detailing|paint correction|ceramic coatings|interior car cleaning",
        ),
        "used cars": _t(
            "certified pre-owned sedan|used car marketplace|vehicle history report",
            "buying a used car|used car inspections|vehicle history reports|car dealer haggling",
        ),
    },
    "Education": {
        "language learning": _t(
            "Spanish course|language learning app|French immersion program",
            "learning Spanish|vocabulary tricks|becoming fluent|French grammar",
        ),
        "coding bootcamps": _t(
            "Python coding bootcamp|web development course|data science bootcamp",
            "learning to code|Python projects|coding interviews|JavaScript frameworks",
        ),
        "online MBA": _t(
            "online MBA program|executive MBA|business leadership certificate",
            "MBA admissions|business school rankings|MBA careers|executive education",
        ),
        "test prep": _t(
            "SAT prep course|ACT practice test bundle|college admissions tutoring",
            "SAT scores|college admissions essays|ACT test strategies|standardized tests",
        ),
        "music lessons": _t(
            "online guitar lessons|piano course|music theory class",
            "guitar chords|piano practice|music theory|learning an instrument",
        ),
        "kids tutoring": _t(
            "math tutoring for kids|early reading program|homework help for kids",
            "math homework|early reading|kids tutoring|elementary school math",
        ),
    },
    "Health & Fitness": {
        "strength training": _t(
            "adjustable dumbbells|home squat rack|whey protein powder",
            "strength training programs|deadlift technique|building muscle|squats",
        ),
        "HIIT": _t(
            "HIIT workout app|speed jump rope|interval timer",
            "HIIT workouts|interval training|burpees|fat-burning circuits",
        ),
        "supplements": _t(
            "daily multivitamin|omega-3 fish oil capsules|probiotic supplement",
            "vitamins|gut health|vitamin D|supplements that work",
        ),
        "meditation": _t(
            "meditation app|online therapy sessions|mindfulness course",
            "mindfulness|stress relief|guided meditation|breathing exercises",
        ),
        "swimming": _t(
            "anti-fog swim goggles|pool membership|wetsuit for open water swimming",
            "swimming drills|open water swimming|freestyle stroke technique|lap swimming",
        ),
        "boxing": _t(
            "boxing gloves|heavy punching bag|boxing gym membership",
            "boxing combos|boxing footwork|heavy bag workouts|sparring",
        ),
    },
    "Pets": {
        "dog food": _t(
            "grain-free dog food|puppy food|freeze-dried dog treats",
            "dog nutrition|feeding a puppy|dog treats|raw dog food",
        ),
        "cat care": _t(
            "clumping cat litter|cat scratching tree|automatic cat feeder",
            "cat behavior|indoor cats|cat litter boxes|kitten care",
        ),
        "aquariums": _t(
            "planted aquarium kit|aquarium canister filter|tropical fish food",
            "aquarium fish|aquascaping|tropical fish tanks|aquarium water chemistry",
        ),
        "reptiles": _t(
            "reptile terrarium|basking heat lamp|reptile UVB bulb",
            "pet reptiles|bearded dragons|leopard geckos|terrarium setups",
        ),
        "pet birds": _t(
            "large parrot cage|parrot food mix|bird perch set",
            "parrots|bird care|budgies|teaching a parrot to talk",
        ),
        "horses": _t(
            "leather riding saddle|horse feed|horse grooming kit",
            "horseback riding|horse grooming|dressage|caring for horses",
        ),
    },
}
