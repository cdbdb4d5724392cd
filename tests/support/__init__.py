"""What the tests share: test servers speaking the real protocols, goldens, case builders.

Test modules import from here and from `conftest.py` (fixtures), never from each other.
"""
