"""Local emulators of the Salesforce REST API and the HubSpot API, served over HTTPS."""
