"""Word pools and sentence templates of the synthetic generator (hand-written; no third-party text).

Rules the pools keep, checked by ``tests/test_synthetic.py``, because the extractive answer agent and
exact-match scoring find answers by their surface string:

- every value is unique across all pools, and no value is a whole-word part of another value;
- no value, person name or role word occurs in a chit-chat or assistant template.

Templates come in paraphrase lists whose first entry is the plainest; ``paraphrase_variety`` takes a prefix.
Placeholders: ``{name}`` a person's name, ``{v}`` a value, ``{a_v}`` the value with "a"/"an", ``{old}``
the previous value, ``{role}`` the relation to the user, ``{species}`` a pet's species.
"""

from __future__ import annotations

# fmt: off

USER_NAMES: tuple[str, ...] = (
    "Alice", "Bruno", "Chiara", "Dmitri", "Esther", "Farid", "Greta", "Hiroshi", "Ines", "Jonas", "Kamala",
    "Lorenzo", "Marta", "Nadia", "Oskar", "Paloma", "Quentin", "Rosa", "Samir", "Tereza",
)

PEOPLE_NAMES: tuple[str, ...] = (
    "Mei", "Priya", "Tomas", "Ana", "Kofi", "Lena", "Raj", "Sofia", "Emeka", "Hana", "Luca", "Yara",
    "Diego", "Freya", "Arjun", "Zainab", "Mateo", "Ingrid", "Kenji", "Amara", "Pavel", "Lucia", "Omar",
    "Elif", "Tariq", "Noor", "Bjorn", "Carmen", "Idris", "Maren", "Ravi", "Selin", "Viktor", "Wanjiru",
    "Xavier", "Yusuf", "Zofia", "Anika", "Bashir", "Dalia", "Emil", "Fatima", "Gideon", "Hamid", "Imke",
    "Jakub", "Keiko", "Lars", "Malik", "Nina", "Olek", "Petra", "Rafael", "Sunita", "Tobias", "Ulla",
    "Vera", "Wim", "Yosef", "Zara",
)

#: One-word relations to the user; a role held by one person only can be asked about (multi-hop).
ROLES: tuple[str, ...] = (
    "sister", "brother", "cousin", "neighbour", "boss", "colleague", "roommate", "aunt", "uncle", "nephew",
    "niece", "mentor", "landlord", "dentist", "coach", "grandmother", "grandfather", "partner",
    "classmate", "godmother", "stepbrother", "accountant", "therapist", "tutor",
)

CITIES: tuple[str, ...] = (
    "Lyon", "Oslo", "Cairo", "Lisbon", "Porto", "Krakow", "Seville", "Bergen", "Tampere", "Gdansk",
    "Bologna", "Ghent", "Utrecht", "Leipzig", "Graz", "Basel", "Tallinn", "Riga", "Vilnius", "Ljubljana",
    "Zagreb", "Sarajevo", "Tirana", "Skopje", "Thessaloniki", "Izmir", "Tbilisi", "Yerevan", "Baku",
    "Almaty", "Tashkent", "Lahore", "Pune", "Chennai", "Kochi", "Colombo", "Kathmandu", "Dhaka", "Yangon",
    "Hanoi", "Manila", "Osaka", "Sapporo", "Busan", "Taipei", "Kaohsiung", "Perth", "Adelaide", "Hobart",
    "Auckland", "Wellington", "Dunedin", "Montevideo", "Asuncion", "Cusco", "Quito", "Medellin",
    "Cartagena", "Havana", "Oaxaca", "Puebla", "Monterrey", "Tucson", "Boise", "Omaha", "Tulsa", "Memphis",
    "Raleigh", "Halifax", "Winnipeg", "Calgary", "Reykjavik", "Nuuk", "Tromso", "Uppsala", "Aarhus",
    "Odense", "Turku", "Rostock", "Bremen", "Dortmund", "Nantes", "Rennes", "Bordeaux", "Toulouse",
    "Marseille", "Genoa", "Trieste", "Palermo", "Bari", "Valencia", "Bilbao", "Granada", "Malaga",
    "Coimbra", "Faro", "Dakar", "Accra", "Nairobi", "Kampala", "Kigali", "Lusaka", "Windhoek", "Marrakesh",
    "Tunis", "Muscat", "Doha", "Amman",
)

JOBS: tuple[str, ...] = (
    "nurse", "architect", "baker", "plumber", "pharmacist", "librarian", "electrician", "carpenter",
    "veterinarian", "translator", "geologist", "paramedic", "florist", "pilot", "chef", "journalist",
    "surveyor", "optician", "midwife", "locksmith", "welder", "cartographer", "botanist", "actuary",
    "radiologist", "sommelier", "stonemason", "glazier", "upholsterer", "zookeeper", "beekeeper",
    "firefighter", "lawyer", "economist", "statistician", "astronomer", "archivist", "curator",
    "hydrologist", "meteorologist", "physiotherapist", "dietitian", "podiatrist", "audiologist",
    "blacksmith", "cobbler", "tailor", "jeweller", "watchmaker", "bookbinder", "luthier", "brewer",
    "butcher", "fishmonger", "greengrocer", "barista", "sculptor", "illustrator", "animator",
    "choreographer", "conductor", "ecologist", "epidemiologist", "oceanographer", "seismologist",
    "toxicologist", "urologist", "zoologist",
)

CAR_COLOURS: tuple[str, ...] = (
    "red", "blue", "green", "silver", "black", "white", "yellow", "orange", "grey", "maroon",
)
CAR_MAKES: tuple[str, ...] = (
    "Volvo", "Fiat", "Toyota", "Honda", "Skoda", "Subaru", "Mazda", "Renault", "Peugeot", "Kia", "Hyundai",
    "Nissan", "Audi", "Saab", "Tesla",
)
#: "red Volvo", ... : colour and make together, so no car value is part of another.
CARS: tuple[str, ...] = tuple(f"{c} {m}" for m in CAR_MAKES for c in CAR_COLOURS)

HOBBIES: tuple[str, ...] = (
    "pottery", "rock climbing", "birdwatching", "chess", "knitting", "fencing", "archery", "origami",
    "calligraphy", "kayaking", "beekeeping hives", "woodturning", "sailing", "salsa dancing", "stargazing",
    "geocaching", "bouldering", "juggling", "falconry", "quilting", "embroidery", "glassblowing", "rowing",
    "orienteering", "ice skating", "paragliding", "scuba diving", "board games", "crossword puzzles",
    "jigsaw puzzles", "model trains", "bonsai", "mushroom foraging", "tai chi", "kickboxing", "tango",
    "flamenco", "ukulele", "harmonica", "accordion", "stand-up comedy", "amateur radio", "lockpicking",
    "bookbinding classes", "stamp collecting", "coin collecting", "urban sketching", "wild swimming",
    "trail running", "mountain biking", "snowboarding", "cross-country skiing", "fly fishing",
    "sourdough baking", "cheese making", "calisthenics", "table tennis", "badminton", "squash",
    "water polo",
)

PET_NAMES: tuple[str, ...] = (
    "Biscuit", "Pepper", "Noodle", "Mochi", "Ziggy", "Pickle", "Waffles", "Clover", "Juniper", "Marble",
    "Nutmeg", "Pumpkin", "Sprout", "Tofu", "Bramble", "Cinder", "Fennel", "Gizmo", "Hazel", "Jellybean",
    "Kiwi", "Mango", "Nacho", "Olive", "Pretzel", "Quince", "Rascal", "Saffron", "Tinker", "Umber",
    "Velvet", "Whiskers", "Yoyo", "Zucchini", "Acorn", "Bean", "Cosmo", "Dorito", "Ember", "Fudge",
    "Gumbo", "Hopper", "Inky", "Jasper", "Kipper", "Loki", "Muffin", "Nimbus", "Oreo", "Paprika", "Rolo",
    "Sushi", "Truffle", "Udon", "Wasabi", "Yeti", "Zephyr", "Bubbles",
)
SPECIES: tuple[str, ...] = ("dog", "cat", "rabbit", "parrot", "hamster", "tortoise", "ferret", "goldfish")

#: Pool of values per single-valued attribute and the label used in memories and questions.
ATTR_POOLS: dict[str, tuple[str, ...]] = {"city": CITIES, "job": JOBS, "car": CARS, "hobby": HOBBIES}
ATTR_LABELS: dict[str, str] = {"city": "home city", "job": "job", "car": "car", "hobby": "hobby"}
#: Attributes a fact can be retracted for ("I sold the car"); a city is never retracted.
DELETABLE: frozenset[str] = frozenset({"job", "car", "hobby", "pets"})

# ----------------------------------------------------------------------------- user turns stating facts
# Each entry maps an event to (templates about the user, templates about another person).
INTRO: tuple[str, ...] = (
    "Have I told you about my {role} {name}?", "My {role} is called {name}.",
    "{name} is my {role}, by the way.", "I should mention my {role}, {name}.",
    "You would like my {role} {name}.",
)

STATE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "city": (
        (
            "I live in {v}.", "My home is in {v}.", "I have been living in {v} for a while.",
            "Home for me is {v}.", "These days I am based in {v}.",
        ),
        (
            "{name} lives in {v}.", "{name} has a flat in {v}.", "{name} is based in {v}.",
            "Home for {name} is {v}.", "{name} has been living in {v} for a while.",
        ),
    ),
    "job": (
        (
            "I work as {a_v}.", "I am {a_v} by trade.", "My job? I am {a_v}.",
            "I earn my living as {a_v}.", "For work, I am {a_v}.",
        ),
        (
            "{name} works as {a_v}.", "{name} is {a_v}.", "{name} earns a living as {a_v}.",
            "For work, {name} is {a_v}.", "{name} has a job as {a_v}.",
        ),
    ),
    "car": (
        ("I drive a {v}.", "I bought a {v}.", "My car is a {v}.", "I get around in my {v}.", "I own a {v}."),
        (
            "{name} drives a {v}.", "{name} bought a {v}.", "The car {name} drives is a {v}.",
            "{name} gets around in a {v}.", "{name} owns a {v}.",
        ),
    ),
    "hobby": (
        (
            "My hobby is {v}.", "I have taken up {v}.", "In my free time I do {v}.",
            "I spend my weekends on {v}.", "I got really into {v}.",
        ),
        (
            "{name} has a hobby: {v}.", "{name} has taken up {v}.", "In free time {name} does {v}.",
            "{name} spends weekends on {v}.", "{name} got really into {v}.",
        ),
    ),
    "pets": (
        (
            "I got a {species} named {v}.", "We adopted a {species}; we call it {v}.",
            "Meet {v}, my new {species}.", "I have a {species} called {v}.",
            "A {species} named {v} lives with me now.",
        ),
        (
            "{name} got a {species} named {v}.", "{name} adopted a {species} called {v}.",
            "{name} has a new {species}, {v}.", "{name} has a {species} called {v}.",
            "A {species} named {v} lives with {name} now.",
        ),
    ),
}

UPDATE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "city": (
        (
            "I moved from {old} to {v}.", "I just relocated to {v}.", "I left {old} and live in {v} now.",
            "Big news: I live in {v} now.", "After years in {old}, I moved to {v}.",
        ),
        (
            "{name} moved from {old} to {v}.", "{name} just relocated to {v}.",
            "{name} left {old} and lives in {v} now.", "Big news: {name} lives in {v} now.",
            "After years in {old}, {name} moved to {v}.",
        ),
    ),
    "job": (
        (
            "I stopped being {a_old} and became {a_v}.", "I am {a_v} now.",
            "I changed careers: I am {a_v} now.", "No longer {a_old}: I work as {a_v} now.",
            "I retrained and work as {a_v} now.",
        ),
        (
            "{name} stopped being {a_old} and became {a_v}.", "{name} is {a_v} now.",
            "{name} changed careers and is {a_v} now.", "No longer {a_old}, {name} works as {a_v} now.",
            "{name} retrained and works as {a_v} now.",
        ),
    ),
    "car": (
        (
            "I traded my {old} for a {v}.", "I got a new car, a {v}.", "I replaced the {old} with a {v}.",
            "My car is a {v} now.", "I drive a {v} now.",
        ),
        (
            "{name} traded the {old} for a {v}.", "{name} got a new car, a {v}.",
            "{name} replaced the {old} with a {v}.", "The car {name} drives is a {v} now.",
            "{name} drives a {v} now.",
        ),
    ),
    "hobby": (
        (
            "I stopped {old} and started {v}.", "My hobby is {v} now.", "I swapped {old} for {v}.",
            "These days my free time goes to {v}.", "I am into {v} now.",
        ),
        (
            "{name} stopped {old} and started {v}.", "The hobby of {name} is {v} now.",
            "{name} swapped {old} for {v}.", "These days {name} spends free time on {v}.",
            "{name} is into {v} now.",
        ),
    ),
}

DELETE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "job": (
        (
            "I quit my job as {a_v} and I am not working now.", "I left my {v} job; I am between jobs.",
            "I am not {a_v} anymore, and I have no job at the moment.",
        ),
        (
            "{name} quit the job as {a_v} and is not working now.",
            "{name} left the {v} job and is between jobs.",
            "{name} is not {a_v} anymore and has no job at the moment.",
        ),
    ),
    "car": (
        (
            "I sold my {v} and I do not have a car anymore.", "I got rid of my {v}; no car for me now.",
            "The {v} is gone, I sold it, and I take the bus now.",
        ),
        (
            "{name} sold the {v} and has no car anymore.", "{name} got rid of the {v}; no car now.",
            "The {v} is gone: {name} sold it and takes the bus now.",
        ),
    ),
    "hobby": (
        (
            "I gave up {v} completely.", "I am done with {v}; I quit it for good.",
            "No more {v} for me, I stopped it.",
        ),
        (
            "{name} gave up {v} completely.", "{name} is done with {v} and quit it for good.",
            "No more {v} for {name}; it stopped.",
        ),
    ),
    "pets": (
        (
            "Sadly, my {species} {v} passed away.",
            "I gave my {species} {v} to a friend who has a garden.",
            "{v}, my {species}, went to live with a new family.",
        ),
        (
            "Sadly, the {species} of {name}, {v}, passed away.",
            "{name} gave the {species} {v} to a friend.",
            "{v}, the {species} of {name}, went to live with a new family.",
        ),
    ),
}

RESTATE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "city": (
        ("As I said, I live in {v}.", "Still in {v}, as you know."),
        ("As I said, {name} lives in {v}.", "{name} is still in {v}, as you know."),
    ),
    "job": (
        ("As I said, I work as {a_v}.", "Still {a_v}, as you know."),
        ("As I said, {name} works as {a_v}.", "{name} is still {a_v}, as you know."),
    ),
    "car": (
        ("As I said, I drive a {v}.", "Still driving the {v}, as you know."),
        ("As I said, {name} drives a {v}.", "{name} still drives the {v}, as you know."),
    ),
    "hobby": (
        ("As I said, my hobby is {v}.", "Still doing {v}, as you know."),
        ("As I said, {name} does {v}.", "{name} still does {v}, as you know."),
    ),
    "pets": (
        ("As I said, I have a {species} called {v}.", "{v} the {species} says hello."),
        ("As I said, {name} has a {species} called {v}.", "{name} still has the {species} {v}."),
    ),
}

#: Mentions of a value that state nothing about the person (a perfect manager ignores them).
DISTRACT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "city": (
        (
            "I have never been to {v}.", "I read a travel article about {v}.",
            "Someone told me {v} is lovely in spring.",
        ),
        (
            "{name} has never been to {v}.", "{name} read a travel article about {v}.",
            "{name} said {v} would be a nice place to visit someday.",
        ),
    ),
    "job": (
        (
            "I once thought about becoming {a_v}, but never did.", "I met {a_v} at a party.",
            "A documentary about being {a_v} was on last night.",
        ),
        (
            "{name} once thought about becoming {a_v}, but never did.", "{name} met {a_v} at a party.",
            "{name} watched a documentary about being {a_v}.",
        ),
    ),
    "car": (
        (
            "I test-drove a {v} but did not buy it.", "I saw an advert for a {v}.",
            "A {v} was parked outside the bakery today.",
        ),
        (
            "{name} test-drove a {v} but did not buy it.", "{name} saw an advert for a {v}.",
            "{name} pointed at a {v} parked outside.",
        ),
    ),
    "hobby": (
        (
            "I watched a video about {v} but it is not for me.", "{v} looks boring to me.",
            "A flyer for {v} lessons came in the post.",
        ),
        (
            "{name} watched a video about {v} but has no interest in it.", "{name} says {v} looks boring.",
            "{name} got a flyer for {v} lessons.",
        ),
    ),
    "pets": (
        ("I saw a {species} named {v} at the park.", "The people next door have a {species} called {v}."),
        (
            "{name} saw a {species} named {v} at the park.",
            "Some friends of {name} have a {species} called {v}.",
        ),
    ),
}

# ----------------------------------------------------------------------------- small talk
DISHES: tuple[str, ...] = (
    "lentil soup", "pad thai", "mushroom risotto", "shakshuka", "a vegetable curry", "pancakes",
    "dumplings", "a big salad", "spaghetti", "tacos", "ramen", "falafel", "stew", "omelettes",
)
WEATHER: tuple[str, ...] = ("rainy", "sunny", "windy", "foggy", "freezing", "humid", "mild", "stormy")
GENRES: tuple[str, ...] = ("comedy", "thriller", "documentary", "horror", "romance", "mystery", "western")
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MOODS: tuple[str, ...] = ("tired", "cheerful", "restless", "calm", "busy", "distracted", "relaxed")

CHITCHAT: tuple[str, ...] = (
    "The weather has been {weather} all week.", "I cooked {dish} for dinner yesterday.",
    "I watched a {genre} film last night; it was fine.", "Work was long today and I feel {mood}.",
    "Any tips for sleeping better? I keep waking up at four.", "I finally cleaned the kitchen properly.",
    "{weekday} was a quiet day for me.", "I am thinking about reorganising my bookshelf.",
    "My phone battery died twice today.", "I tried a new recipe for {dish} and it went well.",
    "It was {weather} on {weekday}, so I stayed in.", "I have been drinking more water lately.",
    "Do you think it is worth learning to type faster?", "I spent the evening answering emails.",
    "I need to buy new socks; mine all have holes.", "I am {mood} today, not sure why.",
    "The neighbours were noisy again on {weekday}.", "I went for a short walk after lunch.",
    "{name} and I had coffee on {weekday}.", "{name} sent me a funny message today.",
    "I made {dish} with {name} on {weekday}.", "I might repaint the hallway this month.",
    "What is a good way to remember birthdays?", "I forgot my umbrella and it was {weather}.",
    "I listened to a podcast about the history of maps.", "I rearranged the furniture in the living room.",
    "Could you remind me why people say the early bird gets the worm?",
    "The train was late again this morning.",
)

ASSISTANT: tuple[str, ...] = (
    "That sounds great!", "Thanks for telling me.", "Interesting, tell me more.", "Got it.",
    "I hope that goes well.", "That is good to hear. How do you feel about it?",
    "I will keep that in mind.", "Oh, nice.", "Sounds like quite a day.", "I understand.",
    "That makes sense.", "Good to know!", "Let me know if I can help with anything.", "How exciting.",
    "That must have been a lot.",
    "A small routine can help: the same bedtime, no screens for the last hour, and a dark room.",
    "Happy to chat about it any time.", "Fair enough.",
)
# fmt: on
