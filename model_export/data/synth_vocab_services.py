"""Topic wording of the service verticals (see ``synth_catalog``): per topic, ``|``-separated
ad products and content subjects."""

RawTopic = tuple[str, str]

RAW_VERTICALS: dict[str, dict[str, RawTopic]] = {
    "Travel": {
        "beach holidays": (
            "all-inclusive beach resort|Caribbean beach getaway|seaside villa rental",
            "hidden beaches|snorkeling spots|family beach resorts|turquoise lagoons",
        ),
        "ski trips": (
            "ski chalet package|season lift pass|ski and snowboard rental",
            "ski resorts|off-piste runs|apres-ski villages|powder days",
        ),
        "city breaks": (
            "weekend city break|boutique hotel in the old town|city museum pass",
            "rooftop bars|old town walking tours|art museums|weekend city itineraries",
        ),
        "cruises": (
            "Mediterranean cruise|river cruise cabin|Alaska cruise with balcony",
            "cruise ship cabins|cruise ports|shore excursions|life on a cruise ship",
        ),
        "camper van road trips": (
            "camper van rental|rooftop tent|RV campground pass",
            "camper van routes|coastal road trips|van life|campgrounds with a view",
        ),
        "backpacking": (
            "hostel dorm bed|round-the-world ticket|carry-on travel backpack",
            "hostels|budget backpacking routes|night trains|solo travel on a shoestring",
        ),
    },
    "Finance": {
        "credit cards": (
            "cashback credit card|travel rewards credit card|no-fee credit card",
            "credit card rewards|credit scores|balance transfers|credit card points",
        ),
        "mortgages": (
            "fixed-rate mortgage|mortgage refinance|first-home mortgage",
            "mortgage rates|down payments|mortgage pre-approval|refinancing a home loan",
        ),
        "investing": (
            "index fund account|robo-advisor portfolio|commission-free stock trading app",
            "index funds|dividend stocks|portfolio rebalancing|the stock market",
        ),
        "crypto": (
            "crypto exchange account|hardware crypto wallet|bitcoin savings plan",
            "bitcoin price swings|crypto wallets|altcoins|blockchain tokens",
        ),
        "life insurance": (
            "term life insurance|family life insurance plan|whole life insurance policy",
            "life insurance policies|choosing beneficiaries|term vs whole life insurance",
        ),
        "tax filing": (
            "online tax filing software|tax preparation service|self-employed tax bundle",
            "tax deductions|tax refunds|tax filing deadlines|taxes for freelancers",
        ),
    },
    "Auto": {
        "electric cars": (
            "electric SUV test drive|home EV charger|electric hatchback lease",
            "EV charging|electric car range|electric vehicles|EV road trips",
        ),
        "pickup trucks": (
            "full-size pickup truck|truck bed cover|heavy-duty tow hitch",
            "towing capacity|pickup trucks|off-road trucks|truck accessories",
        ),
        "motorcycles": (
            "sport motorcycle|full-face motorcycle helmet|motorcycle riding jacket",
            "motorcycle touring routes|motorcycle gear|cornering on a motorbike|cafe racers",
        ),
        "tires": (
            "all-season tires|winter tires|run-flat tires",
            "tire pressure|tire tread wear|winter tires|tire rotation",
        ),
        "car detailing": (
            "ceramic coating kit|car wash subscription|car detailing clay bar",
            "car detailing|paint correction|ceramic coatings|interior car cleaning",
        ),
        "used cars": (
            "certified pre-owned sedan|used car marketplace|vehicle history report",
            "buying a used car|used car inspections|vehicle history reports|car dealer haggling",
        ),
    },
    "Education": {
        "language learning": (
            "Spanish course|language learning app|French immersion program",
            "learning Spanish|vocabulary tricks|becoming fluent|French grammar",
        ),
        "coding bootcamps": (
            "Python coding bootcamp|web development course|data science bootcamp",
            "learning to code|Python projects|coding interviews|JavaScript frameworks",
        ),
        "online MBA": (
            "online MBA program|executive MBA|business leadership certificate",
            "MBA admissions|business school rankings|MBA careers|executive education",
        ),
        "test prep": (
            "SAT prep course|ACT practice test bundle|college admissions tutoring",
            "SAT scores|college admissions essays|ACT test strategies|standardized tests",
        ),
        "music lessons": (
            "online guitar lessons|piano course|music theory class",
            "guitar chords|piano practice|music theory|learning an instrument",
        ),
        "kids tutoring": (
            "math tutoring for kids|early reading program|homework help for kids",
            "math homework|early reading|kids tutoring|elementary school math",
        ),
    },
    "Health & Fitness": {
        "strength training": (
            "adjustable dumbbells|home squat rack|whey protein powder",
            "strength training programs|deadlift technique|building muscle|squats",
        ),
        "HIIT": (
            "HIIT workout app|speed jump rope|interval timer",
            "HIIT workouts|interval training|burpees|fat-burning circuits",
        ),
        "supplements": (
            "daily multivitamin|omega-3 fish oil capsules|probiotic supplement",
            "vitamins|gut health|vitamin D|supplements that work",
        ),
        "meditation": (
            "meditation app|online therapy sessions|mindfulness course",
            "mindfulness|stress relief|guided meditation|breathing exercises",
        ),
        "swimming": (
            "anti-fog swim goggles|pool membership|wetsuit for open water swimming",
            "swimming drills|open water swimming|freestyle stroke technique|lap swimming",
        ),
        "boxing": (
            "boxing gloves|heavy punching bag|boxing gym membership",
            "boxing combos|boxing footwork|heavy bag workouts|sparring",
        ),
    },
    "Pets": {
        "dog food": (
            "grain-free dog food|puppy food|freeze-dried dog treats",
            "dog nutrition|feeding a puppy|dog treats|raw dog food",
        ),
        "cat care": (
            "clumping cat litter|cat scratching tree|automatic cat feeder",
            "cat behavior|indoor cats|cat litter boxes|kitten care",
        ),
        "aquariums": (
            "planted aquarium kit|aquarium canister filter|tropical fish food",
            "aquarium fish|aquascaping|tropical fish tanks|aquarium water chemistry",
        ),
        "reptiles": (
            "reptile terrarium|basking heat lamp|reptile UVB bulb",
            "pet reptiles|bearded dragons|leopard geckos|terrarium setups",
        ),
        "pet birds": (
            "large parrot cage|parrot food mix|bird perch set",
            "parrots|bird care|budgies|teaching a parrot to talk",
        ),
        "horses": (
            "leather riding saddle|horse feed|horse grooming kit",
            "horseback riding|horse grooming|dressage|caring for horses",
        ),
    },
}
