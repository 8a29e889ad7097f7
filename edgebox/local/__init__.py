"""The LAN side of the box: HTTP APIs for TVs, sign editors and the operator."""
