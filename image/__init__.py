"""The venue image: a flashable Debian disk per venue, and A/B update bundles for it.

`build` runs on the build host (as root); `update` and `healthy` are installed into the image and
run on the box itself.
"""
