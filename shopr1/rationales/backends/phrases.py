"""The heuristic teacher's phrasings: several first-person sentences per kind of action.

Every template says "I", "me" or "my", so each passes `validity` once its fields are filled in;
`{label}` is the element's visible text, `{title}` the product on the page, `{text}` what was
typed, `{previous}` / `{query}` the last search, `{price}` the page's price, `{option}` the option.
Changing a phrase changes outputs: bump `heuristic.VERSION` so cached rationales are not reused.
"""

from __future__ import annotations

TEMPLATES: dict[str, tuple[str, ...]] = {
    "search": (
        "I'm looking for {text}, so I'll search for it.",
        "Let me search for {text} and see what the store has.",
        "I'll type in {text} to find what I have in mind.",
        "Searching for {text} seems like the quickest way to find what I want.",
    ),
    "research": (
        "The results for {previous} weren't right, so I'll try searching for {text} instead.",
        "I'll rephrase my search as {text} to get closer matches.",
        "Let me try {text} instead, since {previous} didn't show what I need.",
    ),
    "type": (
        "I'll enter {text} here to go on.",
        "I need to fill in {text} before I can continue.",
    ),
    "result": (
        "The {label} looks like it could be what I want, so I'll open it.",
        "I'm curious about the {label}, so I'll take a closer look.",
        "The {label} seems to match what I'm after, so let me check the details.",
        "I want to see more about the {label} before deciding.",
    ),
    "brand": (
        "I prefer {label}, so I'll narrow the results to that brand.",
        "I'll filter to {label} because that's a brand I trust.",
        "Showing only {label} should help me find what I want faster.",
    ),
    "price": (
        "I want to stay within my budget, so I'll limit prices to {label}.",
        "I'll filter to {label} so I only see what I can afford.",
        "Anything outside {label} is more than I want to spend, so I'm narrowing it down.",
    ),
    "refine": (
        "Filtering by {label} should cut the list down to what I need.",
        "I'll narrow the results to {label} to find a better match.",
        "I only care about {label}, so I'll apply that filter.",
    ),
    "sort": (
        "I'll sort by {label} to see the most promising options first.",
        "Sorting by {label} should bring the best choices to the top for me.",
        "I want the results ordered by {label} before I look further.",
    ),
    "next_page": (
        "None of these are quite right, so I'll look at the next page.",
        "I haven't found what I want yet, so I'll see more results.",
        "Nothing here fits what I need, so I'm moving on to more results.",
    ),
    "previous_page": (
        "I want another look at the earlier results, so I'm going back a page.",
        "I think I missed something on the previous page, so I'll go back to it.",
    ),
    "option": (
        "I need the {label} {option}, so I'm selecting it.",
        "The {label} {option} is the one I want.",
        "I'll pick {label} because that's the {option} that suits me.",
    ),
    "quantity": (
        "I'll set the quantity to what I need.",
        "I want to adjust how many I'm getting before I buy.",
    ),
    "quantity_typed": (
        "I want {text} of these, so I'm setting the quantity.",
        "I need {text}, so I'll change the quantity before buying.",
    ),
    "remove": (
        "I've changed my mind about the {label}, so I'm taking it out of my cart.",
        "I don't need the {label} after all, so I'll remove it.",
    ),
    "category": (
        "I'll browse {label} to see what's there.",
        "What I want should be under {label}, so I'm heading there.",
        "Let me look through the {label} section.",
    ),
    "continue": (
        "I want to keep shopping a bit more before I check out.",
        "I'm not done yet, so I'll go back to shopping.",
    ),
    "add_to_cart": (
        "The {title} has what I'm looking for, so I'm adding it to my cart.",
        "I'll put the {title} in my cart since it fits what I need.",
        "I'm happy with the {title}, so into the cart it goes for me.",
    ),
    "buy_now": (
        "The {title} is what I need, so I'll buy it now.",
        "I've found what I wanted in the {title}, so I'm buying it right away.",
        "I'm convinced by the {title}, so I'll go ahead and purchase it.",
    ),
    "buy_now_price": (
        "At {price}, the {title} fits my budget, so I'll buy it now.",
        "The {title} is what I wanted and {price} is a fair price, so I'm buying it.",
    ),
    "reviews": (
        "I want to see what other buyers say about the {title} before deciding.",
        "I'll check the reviews to make sure the {title} is worth it.",
        "Before I commit, I'd like to read reviews of the {title}.",
    ),
    "checkout": (
        "My cart has what I came for, so I'm heading to checkout.",
        "I'm ready to pay for what I picked, so I'll check out.",
        "I've got everything I need, so I'll finish my purchase.",
    ),
    "home": (
        "I'll start over from the home page.",
        "This isn't leading anywhere, so I'm going back to the home page.",
    ),
    "cart": (
        "I want to check what's in my cart.",
        "Let me look at my cart before going on.",
    ),
    "back": (
        "This isn't quite what I want, so I'll go back.",
        "I'd rather return to the previous page and keep looking.",
        "That wasn't the right one, so I'm heading back.",
    ),
    "search_button": (
        "I'll run the search to see what comes up.",
        "Let me submit the search and look at the results.",
    ),
    "click": (
        "I'll click {label} to get closer to what I want.",
        "I'm going to try {label} to see if it helps me find what I need.",
        "Let me open {label} and see where it leads.",
    ),
    "leave": (
        "Nothing here matches what I'm looking for, so I'm leaving.",
        "I haven't found anything I want, so I'll stop here.",
        "None of these options work for me, so I'm giving up.",
        "I'm not seeing what I need in this store, so I'll leave.",
    ),
    "leave_query": (
        "Nothing here matches the {query} I had in mind, so I'm leaving.",
        "I couldn't find the right {query}, so I'll give up for now.",
        "None of these {query} results are what I want, so I'm leaving.",
    ),
    "plain": (
        "I'll go with this because it seems to bring me closer to what I want.",
        "This looks like a step toward what I need, so I'll click it.",
    ),
    "plain_typed": (
        "I'll type that in to find what I want.",
        "Entering this should get me closer to what I need.",
    ),
}
