import { testOurDesigns } from './our-designs.js';

testOurDesigns('mediated');
