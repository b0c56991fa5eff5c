import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("SDL_VIDEODRIVER") == "dummy":  # it blanks every highway-env frame
    del os.environ["SDL_VIDEODRIVER"]
