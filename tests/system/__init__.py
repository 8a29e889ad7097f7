"""The whole box at once: the cloud startup flow, outages, a month offline, power cuts."""
