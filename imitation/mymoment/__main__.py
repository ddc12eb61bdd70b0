"""`python -m imitation.mymoment [--port 8001] [--seed-demo]`: the myMoment imitation on its own."""

from imitation.mymoment.app import main

main()
