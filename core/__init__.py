"""The ground floor: what every app shares and nothing else (API error shapes and input checks).

Imports nothing from LivChat's apps; every app may import it.
"""
