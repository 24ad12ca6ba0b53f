"""sandbox/salesforce"""
